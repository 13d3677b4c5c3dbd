"""Cancelling an operation on the embedded stack when the CLI is interrupted (Ctrl-C), and telling
the user what a cancel leaves behind (``cancel OP`` goes through the API's
``POST /operations/{id}/cancel``): :func:`novita_orchestrator.steps.cancel_operation` over the
engine's Step Functions, operations table, webhook queue, event bus and status snapshot."""

from __future__ import annotations

from novita_local.engine import LocalEngine
from novita_local.operations import (
    EVENT_BUS,
    OPERATIONS_TABLE,
    STATE_MACHINE,
    STATUS_SNAPSHOT_TABLE,
    STOP_STATE_MACHINE,
    WEBHOOK_QUEUE,
)
from novita_orchestrator.clock import clock_for_scale
from novita_orchestrator.steps.cancel_operation import CancelDeps, CancelResult, cancel_operation
from novita_orchestrator.store.event_bus import EventBridgeBus
from novita_orchestrator.store.executions import StepFunctionsExecutions
from novita_orchestrator.store.lock_store import DynamoLockStore
from novita_orchestrator.store.operations_store import DynamoOperationsStore
from novita_orchestrator.store.status_snapshot_store import DynamoSnapshotStore
from novita_orchestrator.webhooks.queue import SqsNotificationQueue
from novita_orchestrator.workflow.request import state_machines_by_kind


def engine_executions(engine: LocalEngine) -> StepFunctionsExecutions:
    """The engine's workflow executions (the startup's and the stop's)."""
    machines = state_machines_by_kind(
        engine.resource_arn(STATE_MACHINE), engine.resource_arn(STOP_STATE_MACHINE)
    )
    return StepFunctionsExecutions(engine.boto_client("stepfunctions"), machines)


def cancel_on_engine(
    engine: LocalEngine, operation_id: str, *, time_scale: float, reason: str
) -> CancelResult:
    """Cancel the operation on this engine (OperationNotFound when it has none of that ID)."""
    dynamodb = engine.boto_client("dynamodb")
    table = engine.resource_name(OPERATIONS_TABLE)
    deps = CancelDeps(
        operations=DynamoOperationsStore(dynamodb, table),
        locks=DynamoLockStore(dynamodb, table),
        executions=engine_executions(engine),
        queue=SqsNotificationQueue(engine.boto_client("sqs"), engine.queue_url(WEBHOOK_QUEUE)),
        events=EventBridgeBus(engine.boto_client("events"), engine.resource_name(EVENT_BUS)),
        watches=DynamoSnapshotStore(dynamodb, engine.resource_name(STATUS_SNAPSHOT_TABLE)),
        # The functions' clock (a scaled one shares its anchor within the process): one timeline.
        clock=clock_for_scale(time_scale),
    )
    return cancel_operation(operation_id, deps, reason=reason)


def stop_command(instance_id: str) -> str:
    """The exact command that stops the instance (with the shell's settings) and waits until it is exited."""
    return f"novita-orchestrator stop {instance_id}"


def left_behind(result: CancelResult) -> list[str]:
    """What the user must know after a cancel: the instance that may still run (and bill), how to stop it."""
    record = result.record
    if not result.cancelled:
        return [f"{record.operation_id} had already ended: {record.status}"]
    lines = [f"{record.operation_id} cancelled: the workflow no longer drives it and its lock is released"]
    if record.instance_id:
        name = f" ({record.instance_name})" if record.instance_name else ""
        lines += [
            f"instance {record.instance_id}{name} was not stopped: it may still be starting or running,"
            " and Novita bills it while it runs. To stop it:",
            "  " + stop_command(record.instance_id),
        ]
    elif record.kind == "create":
        lines.append(
            "no instance was recorded yet; a create already sent to Novita may still appear as"
            f" {record.target!r}: check your instance list"
        )
    else:
        lines.append("no instance was touched")
    return lines
