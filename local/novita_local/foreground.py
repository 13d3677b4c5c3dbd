"""One operation in the foreground (``start``, ``create``): the workflow on the embedded engine, its
progress on stderr, its webhooks delivered while it runs, and Ctrl-C that cancels it cleanly (the
record ends ``CANCELLED``, the lock is freed, and the user is told which instance may still run)."""

from __future__ import annotations

import json
import sys

from novita_local.cancel import cancel_on_engine, engine_executions, left_behind
from novita_local.engine import LocalEngine
from novita_local.operations import (
    Operation,
    follow,
    local_engine,
    start_operation,
    stored_operation,
)
from novita_local.progress import ProgressPrinter, describe, outcome_line
from novita_local.runtime import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_READY,
    EngineEnvironment,
    handler_output_on_stderr,
    novita_banner,
)
from novita_local.webhooks import DeliveryReport, deliver_notifications, delivery_wait_seconds
from novita_orchestrator.store.operations_store import OperationNotFound
from novita_orchestrator.workflow.request import OperationRequest

_CANCEL_REASON = "cancelled from the command line (Ctrl-C)"
# Real seconds an interrupted command waits for the cancellation's notification to be delivered.
_INTERRUPTED_DELIVERY_SECONDS = 15.0


def run_in_foreground(
    request: OperationRequest, shell: EngineEnvironment, *, wait_seconds: float, verbose: bool, as_json: bool
) -> int:
    """Run the operation to its end (or Ctrl-C); the final operation on stdout; the exit code."""
    environment = shell.variables
    stdout, stderr = sys.stdout, sys.stderr
    interrupted = False
    delivery: DeliveryReport | None = None
    with (
        handler_output_on_stderr(verbose=verbose),
        local_engine(environment, time_scale=shell.time_scale) as engine,
    ):
        print(novita_banner(environment), file=stderr, flush=True)
        operation = start_operation(engine, request)
        try:
            with ProgressPrinter(stderr, time_scale=shell.time_scale) as printer:
                follow(
                    engine,
                    [operation],
                    on_notification=printer,
                    timeout=wait_seconds,
                    deliver_webhooks=request.webhook is not None,
                )
        except KeyboardInterrupt:
            interrupted = True
            for line in _cancel(engine, operation, shell.time_scale):
                print(line, file=stderr, flush=True)
        print(f"{describe(operation)} -> {operation.status}", file=stderr, flush=True)
        if request.webhook is not None:  # return only once its notifications are delivered or parked
            delivery = deliver_notifications(
                engine,
                [operation.operation_id],
                timeout=_INTERRUPTED_DELIVERY_SECONDS if interrupted else delivery_wait_seconds(environment),
                already_sent=operation.webhook_message_ids(),
            )
            print(delivery.line(), file=stderr, flush=True)
            if "WEBHOOK_SIGNING_SECRET" not in environment:
                print(
                    "note: WEBHOOK_SIGNING_SECRET is not set, so this run signed with a secret of its own;"
                    " set one (novita-orchestrator secret) to verify the webhooks",
                    file=stderr,
                    flush=True,
                )
    if as_json:
        summary = operation.summary()
        if delivery is not None:
            summary["webhookDeliveries"] = delivery.as_json()
        print(json.dumps(summary), file=stdout, flush=True)
    else:
        print(outcome_line(operation), file=stdout, flush=True)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_READY if operation.ready else EXIT_FAILED


def _cancel(engine: LocalEngine, operation: Operation, time_scale: float) -> list[str]:
    """Stop driving the operation; what the user must know about it."""
    try:
        result = cancel_on_engine(
            engine, operation.operation_id, time_scale=time_scale, reason=_CANCEL_REASON
        )
    except OperationNotFound:  # interrupted before its first step recorded it
        engine_executions(engine).stop(
            operation.operation_id, kind=operation.request.kind, cause=_CANCEL_REASON
        )
        return [f"interrupted: {operation.operation_id} cancelled before it began; no instance was touched"]
    finally:
        operation.record = stored_operation(engine, operation.operation_id)
    return ["interrupted: " + line if i == 0 else line for i, line in enumerate(left_behind(result))]
