"""The Novita error taxonomy.

Most Novita business errors are HTTP 400, so the kind is decided by the error *name* (the
``reason`` of the kratos-style envelope) first and the HTTP status second. Messages never carry
secrets: the client builds them from the error name, the operation and Novita's message only.
"""

from __future__ import annotations


class NovitaError(Exception):
    """Base of every error the Novita client raises."""

    #: Whether repeating the same request may succeed (5xx, timeouts, network, 429).
    retryable: bool = False
    #: Whether this failure says the upstream is unhealthy (what a circuit breaker counts).
    upstream_failure: bool = False
    code: str = "NOVITA_ERROR"

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        parts = [self.message]
        if self.operation:
            parts.append(f"operation={self.operation}")
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.reason:
            parts.append(f"reason={self.reason}")
        return " ".join(parts)


class NotFound(NovitaError):
    code = "NOT_FOUND"


class ClientError(NovitaError):
    """A 4xx Novita answered with an error name the client does not know; repeating will not help."""

    code = "CLIENT_ERROR"


class Conflict(NovitaError):
    """Illegal state for the action, or a conflicting resource (CONFLICT, OPERATION_LIMIT, ...)."""

    code = "CONFLICT"


class DuplicateInstanceName(Conflict):
    """Several instances carry the name a create was meant to give one; the client will not guess."""

    code = "DUPLICATE_INSTANCE_NAME"


class InsufficientResource(NovitaError):
    code = "INSUFFICIENT_RESOURCE"


class ValidationFailed(NovitaError):
    code = "VALIDATION"


class NoRequestSlot(NovitaError):
    """The deployment's rate limit has no slot for this request before its deadline: nothing was
    sent. (The shared guard raises its subclass; the retry loop needs only this much of it.)"""

    code = "RATE_LIMIT_BUDGET_EXHAUSTED"


class Unauthorized(NovitaError):
    code = "UNAUTHORIZED"


class Forbidden(NovitaError):
    code = "FORBIDDEN"


class RateLimited(NovitaError):
    code = "RATE_LIMITED"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        operation: str = "",
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, status=status, reason=reason)
        #: Seconds the server asked us to wait (from ``Retry-After``), if it said.
        self.retry_after = retry_after


class UpstreamError(NovitaError):
    """Novita answered 5xx."""

    code = "UPSTREAM_ERROR"
    retryable = True
    upstream_failure = True


class _NoAnswer(NovitaError):
    """No (complete) answer arrived; ``request_sent`` says whether Novita may have got the request."""

    retryable = True
    upstream_failure = True

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        request_sent: bool = True,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, status=status, reason=reason)
        #: False only when the connection was never made, so Novita cannot have acted on the request.
        self.request_sent = request_sent


class NovitaTimeout(_NoAnswer):
    """Connecting or waiting for the answer took longer than the configured timeout."""

    code = "TIMEOUT"


class NetworkError(_NoAnswer):
    """Connection refused, reset or dropped before a response arrived."""

    code = "NETWORK"


class UnexpectedResponse(NovitaError):
    """A 2xx whose body does not have the documented shape."""

    code = "UNEXPECTED_RESPONSE"
