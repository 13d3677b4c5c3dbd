"""What the client raises: one class per kind of answer, built from the API's error body.

The API answers every error with ``{"error": {code, message, fields?, operationId?,
retryAfterSeconds?}}``. API Gateway itself (a missing or bad SigV4 signature, a wrong API key, its
own throttling) answers ``{"message": "..."}`` with the kind in ``x-amzn-ErrorType``; both become an
:class:`ApiError` subclass chosen by the HTTP status, so callers branch on the class (or on
``code``) and never parse bodies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from novita_orchestrator.client.models import Operation, optional_number


class OrchestratorError(Exception):
    """Anything this client raises."""


class ClientConfigurationError(OrchestratorError, ValueError):
    """The client cannot be used as configured (no credentials for SigV4, no region, a bad URL)."""


class TransportError(OrchestratorError):
    """No HTTP answer: the connection failed or timed out (the request may or may not have arrived)."""


class ApiError(OrchestratorError):
    """The API answered with an error status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: tuple[str, ...] = (),
        operation_id: str | None = None,
        retry_after_seconds: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        #: The request fields at fault (validation errors), in the API's JSON names.
        self.fields = fields
        #: The operation concerned (the one holding a busy instance).
        self.operation_id = operation_id
        #: How long the API asked to wait before trying again (``Retry-After``).
        self.retry_after_seconds = retry_after_seconds
        #: The parsed error body (or the raw text when it was not JSON).
        self.body = body


class BadRequest(ApiError):
    """400: malformed request (bad JSON, an unusable Idempotency-Key)."""


class NotAuthorized(ApiError):
    """401 / 403: no or bad SigV4 signature, a missing or wrong API key, or no permission."""


class NotFound(ApiError):
    """404: no such instance, operation or route."""


class Conflict(ApiError):
    """409: an operation holds the instance (``operation_id`` names it), an ambiguous name, ..."""


class PayloadTooLarge(ApiError):
    """413: the body is over the API's limit."""


class InvalidRequest(ApiError):
    """422: a field is invalid (``fields`` names it), or an unsafe webhook URL."""


class RateLimited(ApiError):
    """429: Novita's or the deployment's rate limit; retry after ``retry_after_seconds``."""


class ServiceError(ApiError):
    """500 and other 5xx: the service failed or is misconfigured."""


class UpstreamError(ApiError):
    """502: Novita answered something the service cannot use (e.g. refused the service's key)."""


class ServiceUnavailable(ApiError):
    """503: Novita is unavailable or the breaker is open; retry after ``retry_after_seconds``."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: NotAuthorized,
    403: NotAuthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidRequest,
    429: RateLimited,
    502: UpstreamError,
    503: ServiceUnavailable,
}


class OperationFailed(OrchestratorError):
    """``wait()``: the operation ended ``failed``; ``operation.outcome`` says why."""

    def __init__(self, operation: Operation) -> None:
        outcome = operation.outcome
        reason = f"{outcome.code}: {outcome.message}" if outcome is not None else "no reason recorded"
        super().__init__(f"operation {operation.operation_id} failed: {reason}")
        self.operation = operation


class WaitTimeout(OrchestratorError, TimeoutError):
    """``wait()``: the operation was still running when the wait ran out (it keeps running)."""

    def __init__(self, operation: Operation, timeout: float) -> None:
        super().__init__(
            f"operation {operation.operation_id} still {operation.status} (phase {operation.phase})"
            f" after {timeout:g} s"
        )
        self.operation = operation


class WebhookVerificationFailed(OrchestratorError):
    """A webhook request is not from the service: bad or missing signature, stale timestamp, bad body."""


def error_from_answer(
    status: int, headers: Mapping[str, str], text: str, retry_after: float | None
) -> ApiError:
    """The typed error for an error answer (``headers`` case-insensitive, ``text`` the body)."""
    body: Any
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    cls = _BY_STATUS.get(status, ServiceError if status >= 500 else ApiError)
    detail = body.get("error") if isinstance(body, dict) else None
    if isinstance(detail, dict) and isinstance(detail.get("code"), str):
        fields = detail.get("fields")
        api_retry = detail.get("retryAfterSeconds")
        return cls(
            status,
            detail["code"],
            str(detail.get("message") or ""),
            fields=tuple(str(f) for f in fields) if isinstance(fields, list) else (),
            operation_id=detail.get("operationId") if isinstance(detail.get("operationId"), str) else None,
            retry_after_seconds=retry_after if retry_after is not None else optional_number(api_retry),
            body=body,
        )
    # API Gateway's own answers: {"message": "..."} and the kind in x-amzn-ErrorType ("Name:detail").
    gateway_kind = (headers.get("x-amzn-ErrorType") or "").split(":", 1)[0].strip()
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        message = (text or "").strip()[:300] or f"HTTP {status}"
    return cls(status, gateway_kind or f"HTTP_{status}", message, retry_after_seconds=retry_after, body=body)
