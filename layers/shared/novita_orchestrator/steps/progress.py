"""Record a phase change on the operation and build the notification it causes (one per change)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novita_orchestrator.store.operations_store import OperationsStore, PhaseChange
from novita_orchestrator.workflow.notifications import build_event, queue_message


@dataclass(frozen=True)
class Subject:
    """Who a notification is about, and where it goes."""

    operation_id: str
    instance_id: str | None
    instance_name: str | None
    webhook_url: str | None


def change_phase(
    operations: OperationsStore,
    subject: Subject,
    *,
    phase: str,
    event_type: str,
    change_key: str,
    now: float,
    counters: dict[str, int] | None = None,
) -> tuple[PhaseChange, dict[str, Any] | None]:
    """The change as recorded, and the queue message to send (None when the phase did not change)."""
    change = operations.change_phase(
        subject.operation_id,
        phase=phase,
        notification_type=event_type,
        change_key=change_key,
        now=now,
        counters=counters,
    )
    if not change.notify:
        return change, None
    event = build_event(
        event_type=event_type,
        operation_id=subject.operation_id,
        instance_id=subject.instance_id,
        instance_name=subject.instance_name,
        phase=phase,
        phases=change.phases,
        now=now,
    )
    return change, queue_message(subject.webhook_url, event)
