"""The routes (Powertools ``APIGatewayRestResolver`` with validation) and the error answers.

Bodies and parameters are validated from the type annotations; every error goes through
:func:`novita_orchestrator.api.errors.error_answer`, so one table decides each status. The OpenAPI
document is generated from the same annotations (``/openapi.json``; Swagger UI at ``/docs``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path

from novita_orchestrator.api.errors import BadRequest, error_answer
from novita_orchestrator.api.models import (
    OPERATION_ID_PATTERN,
    CreateInstanceBody,
    ErrorBody,
    HealthView,
    InstanceView,
    OperationAccepted,
    OperationView,
    StartInstanceBody,
    StopAccepted,
)
from novita_orchestrator.api.service import ApiService, CallerKey
from novita_orchestrator.clock import SYSTEM_CLOCK, Clock
from novita_orchestrator.observability import logger
from novita_orchestrator.workflow.request import parse_request

API_TITLE = "novita-orchestrator"
API_VERSION = "1.0.0"
_DESCRIPTIONS = {
    400: "Malformed request (bad JSON, unusable Idempotency-Key)",
    404: "No such instance or operation",
    409: "A running operation holds the instance (`error.operationId` names it), or Novita refused it",
    413: "Request body larger than the limit",
    422: "A field is invalid (`error.fields` names it)",
    429: "Rate limited: retry after `Retry-After` seconds",
    500: "The service is misconfigured or failed unexpectedly",
    502: "Novita answered in a way this service cannot use (e.g. refused the service's API key)",
    503: "Novita is unavailable or its circuit breaker is open: retry after `Retry-After` seconds",
}
_ALWAYS = (400, 413, 422, 500)
_NOVITA = (404, 409, 429, 502, 503)

Ref = Annotated[str, Path(min_length=1, max_length=255, description="Instance ID or exact instance name")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Repeat a request with the same key to get the same operation back (24 h).",
    ),
]


def _errors(*statuses: int) -> dict[int, Any]:
    return {
        status: {"description": _DESCRIPTIONS[status], "content": {"application/json": {"model": ErrorBody}}}
        for status in sorted({*_ALWAYS, *statuses})
    }


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


def build_app(service: Callable[[], ApiService], clock: Clock = SYSTEM_CLOCK) -> APIGatewayRestResolver:
    """The resolver; ``service`` is called per request (built lazily, once per process)."""
    app = APIGatewayRestResolver(enable_validation=True)
    app.enable_swagger(
        path="/docs",
        title=API_TITLE,
        version=API_VERSION,
        description="Start or create Novita.ai GPU instances and learn when their app really answers.",
    )

    def caller_key(key: str | None) -> CallerKey | None:
        if key is None:
            return None
        identity = app.current_event.request_context.identity
        principal = identity.user_arn or identity.api_key_id or identity.caller or "anonymous"
        return CallerKey(principal=principal, key=key)

    def status_base() -> str:
        event = app.current_event
        headers = {name.lower(): value for name, value in (event.headers or {}).items()}
        proto = headers.get("x-forwarded-proto", "https")
        host = event.request_context.domain_name or headers.get("host", "localhost")
        # requestContext.path carries the stage (or base path) in front of the resource path.
        full_path = event.request_context.path or event.path
        prefix = full_path[: len(full_path) - len(event.path)] if full_path.endswith(event.path) else ""
        return f"{proto}://{host}{prefix}"

    def accepted(result: OperationAccepted) -> Response[OperationAccepted]:
        return Response(
            status_code=202,
            content_type=content_types.APPLICATION_JSON,
            body=result,
            headers={"Location": result.statusUrl},
        )

    @app.post(
        "/instances/<ref>/start",
        status_code=202,
        summary="Start an instance (ID or exact name) and be told when its app answers",
        response_description="Accepted: follow the operation at statusUrl",
        responses={
            202: {"description": "Accepted", "content": {"application/json": {"model": OperationAccepted}}}
        }
        | _errors(*_NOVITA),
        tags=["operations"],
    )
    def start_instance(
        ref: Ref,
        body: Annotated[StartInstanceBody | None, Body()] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[OperationAccepted]:
        options = body.model_dump(mode="json", exclude_none=True) if body is not None else {}
        request = parse_request({"start": {"ref": ref}, **options})
        return accepted(
            service().accept(request, status_base=status_base(), idempotency=caller_key(idempotency_key))
        )

    @app.post(
        "/instances",
        status_code=202,
        summary="Create an instance from a template and be told when its app answers",
        responses={
            202: {"description": "Accepted", "content": {"application/json": {"model": OperationAccepted}}}
        }
        | _errors(*_NOVITA),
        tags=["operations"],
    )
    def create_instance(
        body: Annotated[CreateInstanceBody, Body()], idempotency_key: IdempotencyKey = None
    ) -> Response[OperationAccepted]:
        request = parse_request({"create": body.create_part(), **body.options()})
        return accepted(
            service().accept(request, status_base=status_base(), idempotency=caller_key(idempotency_key))
        )

    @app.get(
        "/operations/<operation_id>",
        summary="An operation: phase, phase timings, outcome, notifications sent",
        responses={
            200: {"description": "The operation", "content": {"application/json": {"model": OperationView}}}
        }
        | _errors(404),
        tags=["operations"],
    )
    def get_operation(
        operation_id: Annotated[str, Path(pattern=OPERATION_ID_PATTERN, description="op-<32 hex digits>")],
    ) -> OperationView:
        return service().operation(operation_id)

    @app.get(
        "/instances/<ref>",
        summary="An instance, without secrets, and the operation driving it (if any)",
        responses={
            200: {"description": "The instance", "content": {"application/json": {"model": InstanceView}}}
        }
        | _errors(*_NOVITA),
        tags=["instances"],
    )
    def get_instance(ref: Ref) -> InstanceView:
        return service().instance(ref)

    @app.post(
        "/instances/<ref>/stop",
        status_code=202,
        summary="Stop an instance (refused while an operation drives it)",
        responses={
            202: {"description": "Stop requested", "content": {"application/json": {"model": StopAccepted}}}
        }
        | _errors(*_NOVITA),
        tags=["instances"],
    )
    def stop_instance(ref: Ref) -> Response[StopAccepted]:
        result = service().stop(ref)
        return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=result)

    @app.get(
        "/health",
        summary="Novita circuit breaker and rate limiter, webhook dead-letter depth",
        responses={200: {"description": "Health", "content": {"application/json": {"model": HealthView}}}}
        | _errors(),
        tags=["service"],
    )
    def health() -> HealthView:
        return service().health()

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[Any]:
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION),
        )

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        problems = list(error.errors())
        if any(p.get("type") == "json_invalid" for p in problems):
            return _error(BadRequest("the request body is not valid JSON"))
        fields = [_field_name(p.get("loc", ())) for p in problems]
        messages = "; ".join(
            f"{name}: {p.get('msg', 'invalid')}" for name, p in zip(fields, problems, strict=True)
        )
        answer = error_answer(_Invalid(f"invalid request: {messages}", fields=fields), now=clock.now())
        return _json(answer.status, answer.body, answer.headers)

    @app.not_found
    def not_found(_: NotFoundError) -> Response[Any]:
        return _json(404, {"error": {"code": "ROUTE_NOT_FOUND", "message": "no such route"}})

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def any_error(error: Exception) -> Response[Any]:
        return _error(error)

    def _error(error: Exception) -> Response[Any]:
        answer = error_answer(error, now=clock.now())
        if answer.status >= 500:
            logger.exception(
                "request failed", extra={"status": answer.status, "code": answer.body["error"]["code"]}
            )
        else:
            logger.info(
                "request refused", extra={"status": answer.status, "code": answer.body["error"]["code"]}
            )
        return _json(answer.status, answer.body, answer.headers)

    return app


class _Invalid(BadRequest):
    status, code = 422, "INVALID_REQUEST"


def _field_name(loc: Any) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        return ".".join(parts[1:]) or "body"
    if len(parts) >= 2 and parts[0] in {"path", "query", "header"}:
        return f"{parts[0]}:{parts[1]}"
    return ".".join(parts) or "request"
