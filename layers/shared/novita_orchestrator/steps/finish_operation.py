"""FinishOperation: record the outcome and phase timings, release the lock, and build the one terminal
notification and the EventBridge event detail. Runs for ``ready`` and for ``failed`` (then the state's
``error`` from the state machine's Catch says why)."""

from __future__ import annotations

from dataclasses import dataclass

from novita_orchestrator.clock import Clock
from novita_orchestrator.observability import logger
from novita_orchestrator.steps.leases import ExecutionStarter, arm, watcher_input, watcher_name
from novita_orchestrator.steps.operation_metrics import record_operation_metrics
from novita_orchestrator.store.lease_store import LeaseStore
from novita_orchestrator.store.lock_store import LockStore
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import InvalidRequest, LeaseNotArmed
from novita_orchestrator.workflow.notifications import build_event, event_detail, queue_message
from novita_orchestrator.workflow.outcome import failure_from_error
from novita_orchestrator.workflow.request import STOP_KINDS, AutoStopSpec
from novita_orchestrator.workflow.state import FinishResult, FinishState

READY = "ready"
#: A stop or delete that reached ``exited`` / gone (MarkDone in the stop workflow).
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class FinishOperationDeps:
    operations: OperationsStore
    locks: LockStore
    clock: Clock
    #: Auto-stop leases: where a ready start or create with ``autoStop`` sets its lease, and the
    #: watcher it starts (LEASE_STATE_MACHINE_ARN). None: this deployment sets no leases.
    leases: LeaseStore | None = None
    watchers: ExecutionStarter | None = None
    lease_state_machine_arn: str | None = None
    #: AUTO_STOP_WARNING_SECONDS: how long before the stop ``instance.autostop.pending`` goes out.
    warn_seconds: float = 600.0


def finish_operation(state: FinishState, deps: FinishOperationDeps) -> FinishResult:
    """The terminal notification (queue message) and the EventBridge event detail."""
    outcome, operation_id = state.outcome, state.operation
    if outcome not in {READY, DONE, FAILED}:
        raise InvalidRequest(f"outcome: must be 'ready', 'done' or 'failed', not {outcome!r}")
    failure = failure_from_error(state.error) if outcome == FAILED else None
    now = deps.clock.now()
    kind, target_ref = state.kind, state.target_ref
    ends = notifications.outcomes_of(kind)
    succeeded = outcome != FAILED
    event_type = ends.completed if succeeded else ends.failed
    phase = ends.success_phase if succeeded else phases.FAILED
    status = ends.success_status if succeeded else FAILED
    if outcome == READY:
        # Before the record says ready: a lease that cannot be set fails the operation, visibly.
        _arm_lease(state, deps, now)
    record = deps.operations.finish(
        operation_id,
        status=status,
        phase=phase,
        notification_type=event_type,
        outcome=failure,
        now=now,
        defaults={k: v for k, v in (("kind", kind), ("target", target_ref)) if v},
    )
    if kind not in STOP_KINDS:  # startup metrics
        record_operation_metrics(record, outcome=outcome, now=now)
    if state.target is not None and state.target.lock_key:
        deps.locks.release(state.target.lock_key, operation_id=operation_id)

    event = build_event(
        event_type=event_type,
        operation_id=operation_id,
        instance_id=record.instance_id or state.instance_id,
        instance_name=record.instance_name or (state.target.instance_name if state.target else None),
        phase=phase,
        phases=record.phases,
        now=now,
        extra={"kind": record.kind or kind, "target": record.target or target_ref},
        error=failure,
    )
    detail = event_detail(event, status)
    logger.info("operation finished", extra={"status": status, "code": failure["code"] if failure else None})
    return FinishResult(
        notification=queue_message(state.webhook_url, event),
        event=detail,
        detail_type=ends.success_detail_type if succeeded else ends.failed_detail_type,
    )


def _arm_lease(state: FinishState, deps: FinishOperationDeps, now: float) -> None:
    """Set the auto-stop lease a ready start or create asked for, and start its watcher."""
    spec = (state.request or {}).get("autoStop")
    if not spec:
        return
    auto_stop = AutoStopSpec.model_validate(spec)
    instance_id = state.instance_id
    if deps.leases is None or deps.watchers is None or not deps.lease_state_machine_arn:
        raise LeaseNotArmed("this deployment sets no auto-stop leases (LEASE_STATE_MACHINE_ARN)")
    if instance_id is None:
        raise LeaseNotArmed("the operation names no instance to set an auto-stop lease on")
    lease = arm(
        deps.leases,
        instance_id,
        operation_id=state.operation,
        after_seconds=auto_stop.afterSeconds,
        idle_seconds=auto_stop.idleSeconds,
        warn_seconds=deps.warn_seconds,
        webhook_url=state.webhook_url,
        now=now,
    )
    deps.watchers.start(
        deps.lease_state_machine_arn, watcher_name(lease.operation_id, 0), watcher_input(lease, 0)
    )
    logger.info("auto-stop lease set", extra={"instance_id": instance_id, "version": lease.version})
