"""Stop driving an operation: its execution is stopped, its record ends ``failed`` (``CANCELLED``),
its instance lock is freed, and its one terminal notification is queued and its terminal event
published, as the workflow's own end would (for a start or create the startup's failure, for a stop
or delete the stop's).

Nothing is done to the instance itself (never stop or delete what the user did not ask to): a
start or create already sent to Novita goes on, and the result says which instance keeps running
(and billing) so the caller can stop it. A StopExecution skips the state machine's Catch, so
without this the record would stay ``running`` and the lock held until its expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from novita_orchestrator.clock import Clock
from novita_orchestrator.store.lock_store import LockStore
from novita_orchestrator.store.operations_store import (
    RUNNING,
    OperationNotFound,
    OperationRecord,
    OperationsStore,
)
from novita_orchestrator.workflow import phases
from novita_orchestrator.workflow.notifications import build_event, event_detail, outcomes_of, queue_message

CANCELLED = "CANCELLED"
FAILED = "failed"


class Executions(Protocol):
    def stop(self, operation_id: str, *, kind: str, cause: str) -> None:
        """Stop the execution of the operation (of ``kind``); no error when it has already ended."""


class NotificationQueue(Protocol):
    def send(self, operation_id: str, message: dict[str, Any]) -> None:
        """Put one message on the webhook queue."""


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        """Put one event on the service's EventBridge bus."""


class StatusWatches(Protocol):
    def unwatch(self, operation_id: str) -> None:
        """The operation no longer waits on its instance's status (the shared snapshot's demand)."""


@dataclass(frozen=True)
class CancelDeps:
    operations: OperationsStore
    locks: LockStore
    executions: Executions
    queue: NotificationQueue
    events: EventPublisher
    clock: Clock
    #: The shared status snapshot's watches (a polling start is one); None: no snapshot is kept.
    watches: StatusWatches | None = None


@dataclass(frozen=True)
class CancelResult:
    record: OperationRecord
    #: False when the operation had already ended (then nothing was changed).
    cancelled: bool

    @property
    def instance_left(self) -> str | None:
        """The instance a cancelled operation may have left starting or running (None: none yet)."""
        return self.record.instance_id if self.cancelled else None


def lock_key_of(record: OperationRecord) -> str | None:
    """The lock ResolveTarget takes for this operation: the instance for a start, the name for a create."""
    if record.kind == "create" and record.target:
        return f"name:{record.target}"
    return record.instance_id


def cancel_operation(operation_id: str, deps: CancelDeps, *, reason: str) -> CancelResult:
    """Cancel a running operation (OperationNotFound when there is none); an ended one is returned as is."""
    record = deps.operations.get(operation_id)
    if record is None:
        raise OperationNotFound(operation_id)
    if record.status != RUNNING:
        return CancelResult(record, cancelled=False)
    # The execution first, so that no later step writes after the record is finished.
    deps.executions.stop(operation_id, kind=record.kind, cause=reason)
    record = deps.operations.get(operation_id) or record  # a step running at that moment may have moved it
    left = (
        f"instance {record.instance_id} was not stopped" if record.instance_id else "no instance was touched"
    )
    failure = {"code": CANCELLED, "message": f"{reason}; {left}"}
    ends = outcomes_of(record.kind)
    now = deps.clock.now()
    finished = deps.operations.finish(
        operation_id,
        status=FAILED,
        phase=phases.FAILED,
        notification_type=ends.failed,
        outcome=failure,
        now=now,
    )
    if (finished.outcome or {}).get("code") != CANCELLED:  # it ended on its own in between
        return CancelResult(finished, cancelled=False)
    key = lock_key_of(finished)
    if key:
        deps.locks.release(key, operation_id=operation_id)
    if deps.watches is not None:  # else it would keep the snapshot listed until its deadline
        deps.watches.unwatch(operation_id)
    event = build_event(
        event_type=ends.failed,
        operation_id=operation_id,
        instance_id=finished.instance_id,
        instance_name=finished.instance_name,
        phase=phases.FAILED,
        phases=finished.phases,
        now=now,
        extra={"kind": finished.kind, "target": finished.target},
        error=failure,
    )
    deps.queue.send(operation_id, queue_message(finished.webhook_url, event))
    deps.events.publish(ends.failed_detail_type, event_detail(event, FAILED))
    return CancelResult(finished, cancelled=True)
