"""Every error the API can answer, mapped to an HTTP status in one place.

Each answer is JSON ``{"error": {code, message, fields?, operationId?, retryAfterSeconds?}}``; a
known error never becomes a bare 500. Messages are built here or by this service (Novita's words
only after redaction) and never carry a secret or echo a request value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from botocore.exceptions import ClientError as AwsClientError
from botocore.exceptions import ConnectionError as AwsConnectionError
from botocore.exceptions import HTTPClientError as AwsHttpClientError

from novita_orchestrator.novita import errors as novita
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.resilience.errors import BreakerOpen, RateLimitExhausted
from novita_orchestrator.settings import ConfigurationError
from novita_orchestrator.store.operations_store import OperationNotFound
from novita_orchestrator.workflow import errors as workflow

#: Seconds a caller is asked to wait when Novita failed without saying how long.
DEFAULT_RETRY_AFTER_SECONDS = 5
#: AWS error codes that mean "busy or briefly unavailable, try again" (the service's own DynamoDB
#: tables, Step Functions): the caller gets a 503 with Retry-After, as for Novita. Any other AWS error
#: (access denied, a missing table or state machine) is this deployment's fault: a 500.
AWS_BUSY_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "ExecutionLimitExceeded",
        "TransactionInProgressException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
    }
)


class ApiError(Exception):
    """An answer other than success, raised by the service and the routes."""

    status: int = 500
    code: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        fields: list[str] | None = None,
        operation_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.operation_id = operation_id
        self.retry_after = retry_after


class BadRequest(ApiError):
    status, code = 400, "BAD_REQUEST"


class PayloadTooLarge(ApiError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    """The body is not declared as JSON."""

    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class MethodNotAllowed(ApiError):
    """The path exists, the method does not (``Allow`` lists the methods it has)."""

    status, code = 405, "METHOD_NOT_ALLOWED"

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(f"{message}; allowed: {', '.join(allowed)}")
        self.allowed = allowed


class InvalidInput(ApiError):
    """A field of the request is invalid (``fields`` names them)."""

    status, code = 422, "INVALID_REQUEST"


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _answer(
    status: int,
    code: str,
    message: str,
    *,
    fields: list[str] | None = None,
    operation_id: str | None = None,
    retry_after: float | None = None,
) -> ErrorAnswer:
    detail: dict[str, Any] = {"code": code, "message": message}
    if fields:
        detail["fields"] = fields
    if operation_id:
        detail["operationId"] = operation_id
    headers: dict[str, str] = {}
    if retry_after is not None:
        seconds = max(1, math.ceil(retry_after))
        detail["retryAfterSeconds"] = seconds
        headers["Retry-After"] = str(seconds)
    return ErrorAnswer(status, {"error": detail}, headers)


# Domain error -> (status, code); the first matching class wins (subclasses before their bases).
_WORKFLOW_STATUS: tuple[tuple[type[workflow.WorkflowError], int], ...] = (
    (workflow.InvalidRequest, 422),
    (workflow.InstanceNotFound, 404),
    (workflow.TemplateNotFound, 404),
    (workflow.LeaseNotFound, 404),
    (workflow.AmbiguousInstanceName, 409),
    (workflow.NovitaUnavailable, 503),
    (workflow.NovitaTransientError, 503),
    (workflow.NovitaRequestFailed, 502),
)

_NOVITA_STATUS: tuple[tuple[type[novita.NovitaError], int, str], ...] = (
    (novita.NotFound, 404, "NOT_FOUND"),
    (novita.Conflict, 409, "NOVITA_CONFLICT"),
    (novita.InsufficientResource, 409, "NOVITA_INSUFFICIENT_RESOURCE"),
    (novita.ValidationFailed, 422, "NOVITA_VALIDATION"),
    # The caller's credentials are fine (API Gateway checked them): it is this service's Novita key
    # that was refused, an upstream misconfiguration -> 502, not the caller's 401/403.
    (novita.Unauthorized, 502, "NOVITA_AUTH_REFUSED"),
    (novita.Forbidden, 502, "NOVITA_AUTH_REFUSED"),
    (novita.UpstreamError, 503, "NOVITA_UNAVAILABLE"),
    (novita.NovitaTimeout, 503, "NOVITA_UNAVAILABLE"),
    (novita.NetworkError, 503, "NOVITA_UNAVAILABLE"),
    (novita.UnexpectedResponse, 502, "NOVITA_BAD_RESPONSE"),
    (novita.ClientError, 502, "NOVITA_ERROR"),
)


def error_answer(error: BaseException, *, now: float, time_scale: float = 1.0) -> ErrorAnswer:
    """The HTTP answer for any exception (``now`` = epoch seconds on the service's clock, for
    Retry-After). ``time_scale``: the clock's seconds per real second (time-scaled local runs): a
    caller waits real seconds, so Novita's ``Retry-After: 60`` (simulated) is 6 at 10x."""
    answer = _error_answer(error, now=now)
    retry_after = answer.body["error"].get("retryAfterSeconds")
    if time_scale == 1.0 or retry_after is None:
        return answer
    seconds = max(1, math.ceil(retry_after / time_scale))
    body = {"error": {**answer.body["error"], "retryAfterSeconds": seconds}}
    return ErrorAnswer(answer.status, body, {**answer.headers, "Retry-After": str(seconds)})


def _error_answer(error: BaseException, *, now: float) -> ErrorAnswer:
    if isinstance(error, MethodNotAllowed):
        answer = _answer(error.status, error.code, error.message)
        return ErrorAnswer(answer.status, answer.body, {**answer.headers, "Allow": ", ".join(error.allowed)})
    if isinstance(error, ApiError):
        return _answer(
            error.status,
            error.code,
            error.message,
            fields=error.fields,
            operation_id=error.operation_id,
            retry_after=error.retry_after,
        )
    if isinstance(error, BreakerOpen):
        return _answer(503, "NOVITA_UNAVAILABLE", error.message, retry_after=max(1.0, error.retry_at - now))
    if isinstance(error, RateLimitExhausted):
        return _answer(429, "RATE_LIMITED", error.message, retry_after=max(1.0, error.next_slot_at - now))
    if isinstance(error, novita.RateLimited):
        return _answer(
            429,
            "RATE_LIMITED",
            f"Novita is rate limiting this service: {redact_text(error.message)}",
            retry_after=error.retry_after if error.retry_after is not None else 1.0,
        )
    if isinstance(error, workflow.InstanceBusy):
        # A running operation holds the instance: ``operationId`` names it.
        return _answer(409, error.code, error.message, operation_id=error.holder)
    if isinstance(error, OperationNotFound):
        return _answer(404, "OPERATION_NOT_FOUND", str(error))
    if isinstance(error, IdempotencyAlreadyInProgressError):
        return _answer(
            409,
            "IDEMPOTENCY_KEY_IN_PROGRESS",
            "a request with this Idempotency-Key is still being handled; retry shortly",
            retry_after=1,
        )
    if isinstance(error, IdempotencyValidationError):
        return _answer(
            422,
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used for a different request",
            fields=["header:Idempotency-Key"],
        )
    for workflow_class, status in _WORKFLOW_STATUS:
        if isinstance(error, workflow_class):
            retry = DEFAULT_RETRY_AFTER_SECONDS if status == 503 else None
            return _answer(status, error.code, error.message, retry_after=retry)
    for novita_class, status, code in _NOVITA_STATUS:
        if isinstance(error, novita_class):
            retry = DEFAULT_RETRY_AFTER_SECONDS if status == 503 else None
            message = (
                f"Novita {error.operation or 'call'} failed ({error.code}): {redact_text(error.message)}"
            )
            return _answer(status, code, message, retry_after=retry)
    if isinstance(error, ConfigurationError):
        return _answer(500, "CONFIGURATION_ERROR", f"the service is misconfigured: {error}")
    busy = _aws_busy(error)
    if busy is not None:
        return _answer(503, "SERVICE_UNAVAILABLE", busy, retry_after=DEFAULT_RETRY_AFTER_SECONDS)
    return _answer(500, "INTERNAL", "internal error; see the service logs")


def _aws_busy(error: BaseException) -> str | None:
    """Why an AWS call failed for now (throttled, 5xx, unreachable), or None for any other error;
    also when it is the cause of another (Powertools' idempotency wraps its table's errors).

    The message names the call and AWS's error code only (the error's own text may quote the request).
    """
    if error.__cause__ is not None and not isinstance(error, AwsClientError):
        cause = _aws_busy(error.__cause__)
        if cause is not None:
            return cause
    if isinstance(error, AwsClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in AWS_BUSY_CODES or status >= 500:
            return f"the service's AWS {error.operation_name} call was refused for now ({code}); retry later"
        return None
    if isinstance(error, AwsConnectionError | AwsHttpClientError):
        return "the service could not reach AWS for now; retry later"
    return None
