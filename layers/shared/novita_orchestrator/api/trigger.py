"""EventBridge front door: a ``StartInstanceRequested`` or ``StopInstanceRequested`` event (or a
schedule) -> one workflow execution.

The event's ``detail`` is the request, exactly the JSON a caller would give the state machine
(``{"start": {"ref": ...}}`` or ``{"create": {...}}`` for StartInstanceRequested,
``{"stop": {"ref": ...}}`` for StopInstanceRequested, plus optional ``webhook``, ``healthCheck``,
``timeoutSeconds``). A delete is never accepted from an event or a schedule: it is asked for
through the API or the CLI, repeating the instance's name. The operation ID is derived from the
event ID and names the execution, so a redelivered event starts no second execution (Step
Functions answers a repeated name and input with the same execution, or ExecutionAlreadyExists once
it has ended). An invalid request is logged and counted (``TriggerEventsRejected``), not retried.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from novita_orchestrator.api.starter import WorkflowStarter
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from novita_orchestrator.workflow.errors import InvalidRequest
from novita_orchestrator.workflow.request import check_webhook_target, new_operation_id, parse_request

#: The kinds each detail-type may ask for (an event of another detail-type is refused).
KINDS_OF_DETAIL_TYPE = {"StartInstanceRequested": {"start", "create"}, "StopInstanceRequested": {"stop"}}
_OPERATION_NAMESPACE = uuid.UUID("5b0f4a52-3c55-4f0e-9d4e-4f1d9f3c2a61")


@dataclass(frozen=True)
class StartTriggerDeps:
    starter: WorkflowStarter
    url_policy: UrlPolicy


class TriggerResult(BaseModel):
    """What the trigger Lambda answers: ``{operationId, started, reason}``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)

    operation_id: str | None
    started: bool
    reason: str | None = None


def operation_id_for_event(event_id: str | None) -> str:
    """Deterministic per event (EventBridge delivers at least once); random without an event ID."""
    if not event_id:
        return new_operation_id()
    return f"op-{uuid.uuid5(_OPERATION_NAMESPACE, event_id).hex}"


def start_from_event(event: dict[str, Any], deps: StartTriggerDeps) -> TriggerResult:
    operation_id = operation_id_for_event(event.get("id") if isinstance(event.get("id"), str) else None)
    try:
        request = parse_request(event.get("detail"))
        _check_kind(event.get("detail-type"), request.kind)
        check_webhook_target(request, deps.url_policy)
    except InvalidRequest as error:
        logger.error("trigger event refused", extra={"operation_id": operation_id, "reason": error.message})
        metrics.add_metric(name="TriggerEventsRejected", unit=MetricUnit.Count, value=1)
        return TriggerResult(operation_id=None, started=False, reason=error.message)
    # A failed StartExecution raises: Lambda's async retries deliver the same event (same operation).
    if not deps.starter.start(request, operation_id, finish_if_not_started=False):
        logger.info("trigger event already started its operation", extra={"operation_id": operation_id})
        return TriggerResult(operation_id=operation_id, started=False, reason="already started")
    logger.info("operation started by event", extra={"operation_id": operation_id, "kind": request.kind})
    metrics.add_metric(name="TriggerEventsStarted", unit=MetricUnit.Count, value=1)
    return TriggerResult(operation_id=operation_id, started=True)


def _check_kind(detail_type: Any, kind: str) -> None:
    allowed = KINDS_OF_DETAIL_TYPE.get(detail_type if isinstance(detail_type, str) else "", set())
    if kind not in allowed:
        raise InvalidRequest(
            f"invalid request: a {detail_type!r} event cannot ask for a {kind}"
            + (" (a delete is asked for through the API or the CLI only)" if kind == "delete" else "")
        )
