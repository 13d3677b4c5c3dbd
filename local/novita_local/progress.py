"""Readable progress lines and timelines for operations run on the embedded stack."""

from __future__ import annotations

import threading
from typing import TextIO

from novita_local.operations import Notification, Operation
from novita_orchestrator.clock import clock_for_scale
from novita_orchestrator.times import epoch_of_iso

_TICK_SECONDS = 0.2


def describe(operation: Operation) -> str:
    request = operation.request
    if request.create is not None:
        what = f"create {request.create.name!r} from {request.create.templateId}"
    else:
        what = f"{request.kind} {request.target!r}"
    return f"{operation.operation_id}: {what}"


def clock_label(time_scale: float) -> str:
    """What the seconds on a progress line or timeline are: real ones, or simulated under TIME_SCALE."""
    if time_scale == 1:
        return "seconds"
    return f"simulated seconds (TIME_SCALE={time_scale:g}: {time_scale:g} per real second)"


class ProgressPrinter:
    """Prints one line per notification, with its offset from the operation's first one.

    Offsets come from the events' own timestamps (the functions' clock), so on a time-scaled run they
    are simulated seconds, as on the timeline. On a terminal a status line below them ticks the
    elapsed time (the same clock) and the current phase; piped, only the plain lines are written.
    """

    def __init__(self, stream: TextIO, *, time_scale: float = 1.0, ticking: bool | None = None) -> None:
        self._stream = stream
        self._time_scale = time_scale
        self._first: dict[str, float] = {}
        self._lock = threading.Lock()
        self._ticking = _is_terminal(stream) if ticking is None else ticking
        self._status = ""  # the status line now on the terminal ("" = none)
        self._phase: str | None = None
        self._clock = clock_for_scale(time_scale)
        self._stop = threading.Event()
        self._labelled = False
        self._active = False  # the status line is drawn only inside `with printer:`

    def __call__(self, notification: Notification) -> None:
        op_id = notification.operation_id or "?"
        stamp = epoch_of_iso(notification.event.get("timestamp"))
        offset = ""
        if stamp is not None:
            first = self._first.setdefault(op_id, stamp)
            offset = f"+{stamp - first:6.1f}s"
        phase = notification.data.get("phase")
        detail = f"phase={phase}"
        error = notification.data.get("error")
        if isinstance(error, dict):
            detail += f" error={error.get('code')}: {error.get('message')}"
        with self._lock:
            self._clear_status()
            if not self._labelled and self._time_scale != 1:
                print(f"(times in {clock_label(self._time_scale)})", file=self._stream)
            self._labelled = True
            print(
                f"[{op_id[:11]}] {offset:>8} {notification.type:<40} {detail}", file=self._stream, flush=True
            )
            self._phase = str(phase) if phase else self._phase
            self._draw_status()

    def __enter__(self) -> ProgressPrinter:
        """Start the ticking status line (on a terminal only)."""
        self._active = self._ticking
        if self._ticking:
            threading.Thread(target=self._tick, name="progress-ticker", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._lock:
            self._clear_status()

    def _tick(self) -> None:
        while not self._stop.wait(_TICK_SECONDS):
            with self._lock:
                self._draw_status()

    def _draw_status(self) -> None:
        if not self._active or self._stop.is_set():
            return
        if self._first:  # the functions' clock, from the first event: the lines' offsets go on ticking
            elapsed = self._clock.now() - min(self._first.values())
            unit = "s" if self._time_scale == 1 else "s simulated"
            text = f"  ... +{elapsed:6.1f}{unit}, phase {self._phase} (Ctrl-C cancels)"
        else:
            text = "  ... starting the workflow (Ctrl-C cancels)"
        self._stream.write("\r" + text.ljust(len(self._status)))
        self._stream.flush()
        self._status = text

    def _clear_status(self) -> None:
        if self._status:
            self._stream.write("\r" + " " * len(self._status) + "\r")
            self._status = ""


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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
