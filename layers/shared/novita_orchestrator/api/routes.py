"""The REST API: one module-level Powertools resolver, its routes, and the error answers.

Bodies and parameters are validated from the type annotations; the service reaches each route
through ``Depends(api_service)`` (tests swap it with ``app.dependency_overrides``); every error goes
through :func:`novita_orchestrator.api.errors.error_answer`, so one table decides each status. The
OpenAPI document is generated from the same annotations (``/openapi.json``; Swagger UI at ``/docs``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query

from novita_orchestrator.api.docs import swagger_page
from novita_orchestrator.api.errors import (
    BadRequest,
    InvalidInput,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    error_answer,
)
from novita_orchestrator.api.models import (
    CancelView,
    CreateInstanceBody,
    ErrorBody,
    HealthView,
    InstanceView,
    LeaseChangeBody,
    LeaseView,
    OperationAccepted,
    OperationView,
    StartInstanceBody,
    StopInstanceBody,
)
from novita_orchestrator.api.service import ApiService, CallerKey
from novita_orchestrator.clock import SYSTEM_CLOCK, Clock, time_scale_of
from novita_orchestrator.observability import logger
from novita_orchestrator.settings import ConfigurationError
from novita_orchestrator.workflow.request import OperationRequest, parse_request

API_TITLE = "novita-orchestrator"
API_VERSION = "1.0.0"
_DESCRIPTIONS = {
    400: "Malformed request (bad JSON, unusable Idempotency-Key)",
    404: "No such instance or operation",
    409: "A running operation holds the instance (`error.operationId` names it), or Novita refused it",
    413: "Request body larger than the limit",
    415: "The request body is not JSON: send `Content-Type: application/json`",
    422: "A field is invalid (`error.fields` names it)",
    429: "Rate limited: retry after `Retry-After` seconds",
    500: "The service is misconfigured or failed unexpectedly",
    502: "Novita answered in a way this service cannot use (e.g. refused the service's API key)",
    503: "Novita is unavailable or its circuit breaker is open: retry after `Retry-After` seconds",
}
_ALWAYS = (400, 413, 422, 500)
#: Routes that take a JSON body also answer 415.
_BODY = (415,)
_NOVITA = (404, 409, 429, 502, 503)

app = APIGatewayRestResolver(enable_validation=True)
# The document's metadata, for /openapi.json and /docs alike. Not enable_swagger: it would import the
# OpenAPI document models at init; /docs builds its page when asked (novita_orchestrator.api.docs).
app.configure_openapi(
    title=API_TITLE,
    version=API_VERSION,
    description="Start or create Novita.ai GPU instances and learn when their app really answers.",
)

# --- what the routes depend on -------------------------------------------------------------------

_bound: list[Callable[[], ApiService]] = []


def serve_with(service: Callable[[], ApiService]) -> None:
    """Give the routes their service (the function's entry does, at init: functions/api/app.py)."""
    _bound[:] = [service]


def api_service() -> ApiService:
    """The service of this process; raises the ConfigurationError that kept it from being built."""
    if not _bound:
        raise ConfigurationError("the API's service is not set up (functions/api/app.py does it at init)")
    return _bound[0]()


def current_service(resolver: APIGatewayRestResolver) -> ApiService:
    """The service as the routes get it (``app.dependency_overrides`` included): for the middleware."""
    provider: Callable[[], ApiService] = resolver.dependency_overrides.get(api_service, api_service)
    return provider()


def caller_key(idempotency_key: str | None) -> CallerKey | None:
    """The request's Idempotency-Key, scoped to the caller API Gateway authenticated."""
    if idempotency_key is None:
        return None
    identity = app.current_event.request_context.identity
    principal = identity.user_arn or identity.api_key_id or identity.caller or "anonymous"
    return CallerKey(principal=principal, key=idempotency_key)


def status_base() -> str:
    """``https://host/stage``: where this API answers, so the status URL it hands out works as is."""
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    proto = headers.get("x-forwarded-proto", "https")
    host = event.request_context.domain_name or headers.get("host", "localhost")
    return f"{proto}://{host}{base_path()}"


def base_path() -> str:
    """The stage (or custom domain's base path) in front of the resource path: ``/prod``, or ""."""
    event = app.current_event
    # requestContext.path carries the stage (or base path) in front of the resource path.
    full_path = event.request_context.path or event.path
    return full_path[: len(full_path) - len(event.path)] if full_path.endswith(event.path) else ""


Service = Annotated[ApiService, Depends(api_service)]
StatusBase = Annotated[str, Depends(status_base)]
Ref = Annotated[str, Path(min_length=1, max_length=255, description="Instance ID or exact instance name")]
# Not validated by pattern: an ID of another shape names no operation (404, as for any unknown one).
OperationId = Annotated[str, Path(min_length=1, max_length=255, description="op-<32 hex digits>")]
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


def _accept(
    service: ApiService, request: OperationRequest, base: str, idempotency_key: str | None
) -> Response[OperationAccepted]:
    """202 with the operation and its status URL (also in ``Location``)."""
    refuse_non_json_body()
    result = service.accept(
        request, status_base=base, idempotency=caller_key(idempotency_key), lambda_context=app.lambda_context
    )
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=result,
        headers={"Location": result.statusUrl},
    )


JSON_TYPE = "application/json"


def non_json_content_type() -> str | None:
    """The request's Content-Type when its body is not declared as JSON (no Content-Type = JSON).

    Powertools would parse a form-encoded body as form fields: ``curl -d '{}'`` (curl's default
    type) then met a baffling "extra inputs" 422. This API speaks JSON only."""
    event = app.current_event
    if not (event.body or ""):
        return None
    declared = (event.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if (
        not declared
        or declared == JSON_TYPE
        or (declared.startswith("application/") and declared.endswith("+json"))
    ):
        return None
    return declared


def refuse_non_json_body() -> None:
    if non_json_content_type() is not None:
        raise _not_json()


def _not_json() -> UnsupportedMediaType:
    # The type sent is not echoed (no request value is): the message says what to send instead.
    return UnsupportedMediaType(
        f"the request body must be JSON: send Content-Type: {JSON_TYPE}"
        f" (with curl: -H 'Content-Type: {JSON_TYPE}')",
        fields=["header:Content-Type"],
    )


# --- middleware ------------------------------------------------------------------------------------


def body_size(event: Any) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError):
            return len(body)
    return len(body.encode("utf-8")) if isinstance(body, str) else len(body)


def limit_body_size(resolver: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """413 for a body over API_MAX_BODY_BYTES, before the route or the service sees it.

    Powertools runs its request validation before any middleware of the app, so a body that is too
    large *and* invalid answers 422; a valid one over the limit answers 413, naming the limit."""
    size = body_size(resolver.current_event.raw_event)
    if size:
        limit = current_service(resolver).deps.max_body_bytes
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
    return next_middleware(resolver)


app.use(middlewares=[limit_body_size])


# --- routes ----------------------------------------------------------------------------------------


@app.post(
    "/instances/<ref>/start",
    status_code=202,
    summary="Start an instance (ID or exact name) and be told when its app answers",
    response_description="Accepted: follow the operation at statusUrl",
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"model": OperationAccepted}}}
    }
    | _errors(*_NOVITA, *_BODY),
    tags=["operations"],
)
def start_instance(
    ref: Ref,
    service: Service,
    base: StatusBase,
    body: Annotated[StartInstanceBody | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[OperationAccepted]:
    options = body.model_dump(mode="json", exclude_none=True) if body is not None else {}
    request = parse_request({"start": {"ref": ref}, **options})
    return _accept(service, request, base, idempotency_key)


@app.post(
    "/instances",
    status_code=202,
    summary="Create an instance from a template and be told when its app answers",
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"model": OperationAccepted}}}
    }
    | _errors(*_NOVITA, *_BODY),
    tags=["operations"],
)
def create_instance(
    body: Annotated[CreateInstanceBody, Body()],
    service: Service,
    base: StatusBase,
    idempotency_key: IdempotencyKey = None,
) -> Response[OperationAccepted]:
    request = parse_request({"create": body.create_part(), **body.options()})
    return _accept(service, request, base, idempotency_key)


@app.get(
    "/operations/<operation_id>",
    summary="An operation: phase, phase timings, outcome, notifications sent",
    responses={
        200: {"description": "The operation", "content": {"application/json": {"model": OperationView}}}
    }
    | _errors(404),
    tags=["operations"],
)
def get_operation(operation_id: OperationId, service: Service) -> OperationView:
    return service.operation(operation_id)


@app.post(
    "/operations/<operation_id>/cancel",
    summary="Stop driving an operation: it ends failed (CANCELLED), notified once; the instance stays",
    responses={
        200: {
            "description": "Cancelled now (cancelled: true), or it had already ended (false)",
            "content": {"application/json": {"model": CancelView}},
        }
    }
    | _errors(404),
    tags=["operations"],
)
def cancel_operation(operation_id: OperationId, service: Service) -> CancelView:
    return service.cancel(operation_id)


@app.get(
    "/instances/<ref>",
    summary="An instance, without secrets, and the operation driving it (if any)",
    responses={200: {"description": "The instance", "content": {"application/json": {"model": InstanceView}}}}
    | _errors(*_NOVITA),
    tags=["instances"],
)
def get_instance(ref: Ref, service: Service) -> InstanceView:
    return service.instance(ref)


@app.post(
    "/instances/<ref>/stop",
    status_code=202,
    summary="Stop an instance (ID or exact name) and be told when it is exited",
    response_description="Accepted: follow the operation at statusUrl",
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"model": OperationAccepted}}}
    }
    | _errors(*_NOVITA),
    tags=["operations"],
)
def stop_instance(
    ref: Ref,
    service: Service,
    base: StatusBase,
    body: Annotated[StopInstanceBody | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[OperationAccepted]:
    options = body.model_dump(mode="json", exclude_none=True) if body is not None else {}
    request = parse_request({"stop": {"ref": ref}, **options})
    return _accept(service, request, base, idempotency_key)


@app.delete(
    "/instances/<ref>",
    status_code=202,
    summary="Delete an instance: confirm repeats its exact name; be told when it is removed",
    response_description="Accepted: follow the operation at statusUrl",
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"model": OperationAccepted}}}
    }
    | _errors(*_NOVITA),
    tags=["operations"],
)
def delete_instance(
    ref: Ref,
    service: Service,
    base: StatusBase,
    confirm: Annotated[
        str,
        Query(min_length=1, max_length=255, description="The instance's exact name, repeated (else 422)"),
    ],
    body: Annotated[StopInstanceBody | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[OperationAccepted]:
    options = body.model_dump(mode="json", exclude_none=True) if body is not None else {}
    request = parse_request({"delete": {"ref": ref, "confirm": confirm}, **options})
    return _accept(service, request, base, idempotency_key)


@app.post(
    "/instances/<ref>/heartbeat",
    summary="The instance's app is in use: an idle auto-stop lease runs out idleSeconds from now",
    responses={200: {"description": "The lease", "content": {"application/json": {"model": LeaseView}}}}
    | _errors(*_NOVITA),
    tags=["instances"],
)
def heartbeat(ref: Ref, service: Service) -> LeaseView:
    return service.heartbeat(ref)


@app.post(
    "/instances/<ref>/lease",
    summary="Extend, shorten or cancel the instance's auto-stop lease",
    responses={200: {"description": "The lease", "content": {"application/json": {"model": LeaseView}}}}
    | _errors(*_NOVITA),
    tags=["instances"],
)
def change_lease(ref: Ref, service: Service, body: Annotated[LeaseChangeBody, Body()]) -> LeaseView:
    return service.change_lease(ref, body)


@app.get(
    "/health",
    summary="Novita circuit breaker and rate limiter, webhook dead-letter depth",
    responses={200: {"description": "Health", "content": {"application/json": {"model": HealthView}}}}
    | _errors(),
    tags=["service"],
)
def health(service: Service) -> HealthView:
    return service.health()


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[Any]:
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=app.get_openapi_json_schema()
    )


@app.get("/docs", include_in_schema=False)
def docs() -> Response[Any]:
    return swagger_page(app, base_path())


# --- errors ----------------------------------------------------------------------------------------


@app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
def unsupported_content_type(_: RequestUnsupportedContentType) -> Response[Any]:
    return _error(_not_json())


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def invalid_request(error: RequestValidationError) -> Response[Any]:
    if non_json_content_type() is not None:
        # Powertools parsed a form-encoded body as fields: the type, not the fields, is the mistake.
        return _error(_not_json())
    problems = list(error.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        return _error(BadRequest("the request body is not valid JSON"))
    fields = [_field_name(p.get("loc", ())) for p in problems]
    messages = "; ".join(
        f"{name}: {p.get('msg', 'invalid')}" for name, p in zip(fields, problems, strict=True)
    )
    return _error(InvalidInput(f"invalid request: {messages}", fields=fields))


@app.exception_handler(UnicodeDecodeError)  # type: ignore[untyped-decorator]
def undecodable_body(_: UnicodeDecodeError) -> Response[Any]:
    # Powertools' validation decodes the body before any route or middleware of ours runs: bytes that
    # are not UTF-8 are the caller's mistake, not a server error.
    return _error(BadRequest("the request body is not valid JSON (it is not UTF-8 text)"))


@app.not_found
def not_found(_: NotFoundError) -> Response[Any]:
    allowed = allowed_methods(app.current_event.path)
    if allowed:
        return _error(MethodNotAllowed("this route does not take that method", allowed=allowed))
    return _json(404, {"error": {"code": "ROUTE_NOT_FOUND", "message": "no such route"}})


def allowed_methods(path: str) -> list[str]:
    """The methods of the routes whose path matches ``path`` (a 405 lists them in ``Allow``)."""
    # Powertools keeps its routes on these two lists and offers no public lookup by path.
    routes = [*app._static_routes, *app._dynamic_routes]
    return sorted({route.method for route in routes if route.rule.match(path)})


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def any_error(error: Exception) -> Response[Any]:
    return _error(error)


def _clock() -> Clock:
    # The service's clock (time-scaled on local runs: a breaker's retry time is on that clock).
    try:
        return current_service(app).deps.clock
    except ConfigurationError:
        return SYSTEM_CLOCK


def _error(error: Exception) -> Response[Any]:
    clock = _clock()
    answer = error_answer(error, now=clock.now(), time_scale=time_scale_of(clock))
    if answer.status >= 500:
        logger.exception(
            "request failed", extra={"status": answer.status, "code": answer.body["error"]["code"]}
        )
    else:
        logger.info("request refused", extra={"status": answer.status, "code": answer.body["error"]["code"]})
    return _json(answer.status, answer.body, answer.headers)


def _field_name(loc: Any) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        return ".".join(parts[1:]) or "body"
    if len(parts) >= 2 and parts[0] in {"path", "query", "header"}:
        return f"{parts[0]}:{parts[1]}"
    return ".".join(parts) or "request"
