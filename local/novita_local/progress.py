"""Readable progress lines and timelines for operations run on the embedded stack."""

from __future__ import annotations

from typing import TextIO

from novita_local.operations import Notification, Operation
from novita_orchestrator.times import epoch_of_iso


def describe(operation: Operation) -> str:
    request = operation.request
    if request.create is not None:
        what = f"create {request.create.name!r} from {request.create.templateId}"
    else:
        what = f"{request.kind} {request.target!r}"
    return f"{operation.operation_id}: {what}"


class ProgressPrinter:
    """Prints one line per notification, with its offset from the operation's first one.

    Offsets come from the events' own timestamps, so on a time-scaled run they are simulated seconds.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._first: dict[str, float] = {}

    def __call__(self, notification: Notification) -> None:
        op_id = notification.operation_id or "?"
        stamp = epoch_of_iso(notification.event.get("timestamp"))
        offset = ""
        if stamp is not None:
            first = self._first.setdefault(op_id, stamp)
            offset = f"+{stamp - first:6.1f}s"
        detail = f"phase={notification.data.get('phase')}"
        error = notification.data.get("error")
        if isinstance(error, dict):
            detail += f" error={error.get('code')}: {error.get('message')}"
        print(f"[{op_id[:11]}] {offset:>8} {notification.type:<40} {detail}", file=self._stream, flush=True)


def outcome_line(operation: Operation) -> str:
    summary = operation.summary()
    if operation.ready:
        return f"{operation.operation_id}: {summary['status']} (instance {summary.get('instanceId')})"
    outcome = summary.get("outcome") or {}
    return f"{operation.operation_id}: failed ({outcome.get('code')}: {outcome.get('message')})"


def timeline(operation: Operation) -> list[str]:
    """Phase changes and notifications of one operation in time order, offsets from its start."""
    summary = operation.summary()
    entries: list[tuple[float, int, str]] = []
    for phase, when in (summary.get("phases") or {}).items():
        stamp = epoch_of_iso(when)
        if stamp is not None:
            entries.append((stamp, 0, f"phase        {phase}"))
    for notification in operation.notifications:
        stamp = epoch_of_iso(notification.event.get("timestamp"))
        if stamp is not None:
            entries.append((stamp, 1, f"notification {notification.type}"))
    entries.sort()
    lines = [describe(operation)]
    start = entries[0][0] if entries else 0.0
    lines.extend(f"  t+{stamp - start:6.1f}s  {text}" for stamp, _, text in entries)
    lines.append("  " + outcome_line(operation))
    return lines
