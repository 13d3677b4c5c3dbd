"""FinishOperation: record the outcome and phase timings, release the lock, and build the one terminal
notification and the EventBridge event detail. Runs for ``ready`` and for ``failed`` (then the state's
``error`` from the state machine's Catch says why)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.steps.operation_metrics import record_operation_metrics
from novita_orchestrator.store.lock_store import LockStore
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import InvalidRequest, code_for_error_name
from novita_orchestrator.workflow.notifications import build_event, queue_message
from novita_orchestrator.workflow.state import State, Target, instance_id_of, section, webhook_url_of

MAX_MESSAGE_LENGTH = 1000
READY = "ready"
FAILED = "failed"


def failure_from_error(error: Any) -> dict[str, str]:
    """``{code, message}`` from a Catch's ``{Error, Cause}``; Cause is the Lambda's error JSON or text."""
    if not isinstance(error, Mapping):
        return {"code": "INTERNAL", "message": "the operation failed for an unknown reason"}
    name = str(error.get("Error") or "")
    cause = error.get("Cause")
    message = ""
    if isinstance(cause, str) and cause:
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping):
            name = str(parsed.get("errorType") or name)
            message = str(parsed.get("errorMessage") or "")
        else:
            message = cause
    message = redact_text(message or name or "the operation failed").strip()
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return {"code": code_for_error_name(name), "message": message}


def finish_operation(
    *,
    operation_id: str,
    outcome: str,
    state: State,
    operations: OperationsStore,
    locks: LockStore,
    clock: Clock,
) -> dict[str, Any]:
    """``{"notification": <queue message>, "event": <EventBridge detail>}``."""
    if outcome not in {READY, FAILED}:
        raise InvalidRequest(f"outcome: must be 'ready' or 'failed', not {outcome!r}")
    failure = failure_from_error(state.get("error")) if outcome == FAILED else None
    now = clock.now()
    request = section(state, "request")
    kind = "start" if "start" in request else "create" if "create" in request else ""
    target_ref = _target_ref(request)
    record = operations.finish(
        operation_id,
        status=outcome,
        phase=phases.READY if outcome == READY else phases.FAILED,
        notification_type=notifications.COMPLETED if outcome == READY else notifications.FAILED,
        outcome=failure,
        now=now,
        defaults={k: v for k, v in (("kind", kind), ("target", target_ref)) if v},
    )
    record_operation_metrics(record, outcome=outcome, now=now)

    target_data = state.get("target")
    if isinstance(target_data, Mapping):
        target = Target.from_state(target_data)
        if target.lock_key:
            locks.release(target.lock_key, operation_id=operation_id)

    instance_id = record.instance_id or instance_id_of(state)
    instance_name = record.instance_name or section(state, "target").get("instanceName")
    event_type = notifications.COMPLETED if outcome == READY else notifications.FAILED
    phase = phases.READY if outcome == READY else phases.FAILED
    event = build_event(
        event_type=event_type,
        operation_id=operation_id,
        instance_id=instance_id,
        instance_name=instance_name,
        phase=phase,
        phases=record.phases,
        now=now,
        extra={"kind": record.kind or kind, "target": record.target or target_ref},
        error=failure,
    )
    detail = {"eventId": event["id"], "type": event_type, "status": outcome, **event["data"]}
    return {"notification": queue_message(webhook_url_of(state), event), "event": detail}


def _target_ref(request: Mapping[str, Any]) -> str:
    start, create = request.get("start"), request.get("create")
    if isinstance(start, Mapping):
        return str(start.get("ref") or "")
    if isinstance(create, Mapping):
        return str(create.get("name") or "")
    return ""
