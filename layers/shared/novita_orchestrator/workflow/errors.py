"""Errors the workflow's Lambdas raise. Each class name is the error name the state machine sees
(``Catch``/``Retry`` match on it), and each ``code`` is what the failure notification reports.

Messages are built by this service (Novita's own words only after redaction) and never carry secrets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from novita_orchestrator.novita.errors import NovitaError
from novita_orchestrator.novita.redaction import redact_text


class WorkflowError(Exception):
    """Base of every domain error of the startup workflow."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(WorkflowError):
    code = "INVALID_REQUEST"


class InstanceNotFound(WorkflowError):
    code = "INSTANCE_NOT_FOUND"


class InstanceRemoved(InstanceNotFound):
    """The instance addressed by ID is deleted or being deleted (Novita keeps listing such rows)."""

    code = "INSTANCE_REMOVED"


class AmbiguousInstanceName(WorkflowError):
    code = "AMBIGUOUS_INSTANCE_NAME"


class InstanceBusy(WorkflowError):
    """Another operation holds the instance's lock; the message names that operation."""

    code = "INSTANCE_BUSY"

    def __init__(self, message: str, *, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class TemplateNotFound(WorkflowError):
    code = "TEMPLATE_NOT_FOUND"


class RegistryAuthNotFound(WorkflowError):
    code = "REGISTRY_AUTH_NOT_FOUND"


class LaunchRefused(WorkflowError):
    """Novita refused the start or create (no capacity, invalid parameters, ...)."""

    code = "LAUNCH_REFUSED"


class StartupFailed(WorkflowError):
    code = "STARTUP_FAILED"


class StartupTimeout(WorkflowError):
    code = "STARTUP_TIMEOUT"


class AppNeverHealthy(WorkflowError):
    code = "APP_NEVER_HEALTHY"


class HealthTargetRefused(WorkflowError):
    """The outbound guard refused a probe address (loopback, private, link-local/metadata)."""

    code = "HEALTH_TARGET_REFUSED"


class NovitaTransientError(WorkflowError):
    """Novita failed in a way that may pass (5xx, timeout, network, 429) after the client's own retries.

    Read-only tasks may Retry it in the state machine; if it persists the operation fails with it."""

    code = "NOVITA_UNAVAILABLE"


class NovitaUnavailable(WorkflowError):
    """The shared circuit breaker (or rate-limit budget) refused the call: do not retry, fail cleanly."""

    code = "NOVITA_UNAVAILABLE"


class NovitaRequestFailed(WorkflowError):
    """Novita answered a business error this step has no better name for."""

    code = "NOVITA_ERROR"


#: Error names the state machine may report that are not WorkflowErrors, mapped to codes.
EXTERNAL_ERROR_CODES: dict[str, str] = {
    # Novita client errors that escaped a step (the state machine retries some of them by name).
    "BreakerOpen": "NOVITA_UNAVAILABLE",
    "RateLimitExhausted": "NOVITA_UNAVAILABLE",
    "UpstreamError": "NOVITA_UNAVAILABLE",
    "NovitaTimeout": "NOVITA_UNAVAILABLE",
    "NetworkError": "NOVITA_UNAVAILABLE",
    "RateLimited": "NOVITA_UNAVAILABLE",
    "States.Timeout": "STARTUP_TIMEOUT",
}


def code_for_error_name(name: str) -> str:
    """The notification code for an error name as the state machine reports it."""
    for cls in _all_subclasses(WorkflowError):
        if cls.__name__ == name:
            return cls.code
    return EXTERNAL_ERROR_CODES.get(name, "INTERNAL")


def _all_subclasses(cls: type[WorkflowError]) -> list[type[WorkflowError]]:
    found: list[type[WorkflowError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def novita_message(error: NovitaError) -> str:
    """Novita's error text, redacted, for an outcome message."""
    return redact_text(error.message)


def translate_novita_error(
    error: NovitaError, *, refused: type[WorkflowError] = NovitaRequestFailed
) -> WorkflowError:
    """The workflow error for a Novita client error; ``refused`` names a business refusal in this step."""
    message = novita_message(error)
    if error.code in {"BREAKER_OPEN", "RATE_LIMIT_BUDGET_EXHAUSTED"}:
        return NovitaUnavailable(f"Novita is unavailable: {message}")
    if error.retryable or error.upstream_failure:
        return NovitaTransientError(f"Novita did not answer usably ({error.code}): {message}")
    return refused(
        f"Novita refused {error.operation or 'the call'} ({error.reason or error.code}): {message}"
    )


@contextmanager
def novita_errors_translated(*, refused: type[WorkflowError] = NovitaRequestFailed) -> Iterator[None]:
    """Raise Novita client errors inside the block as workflow errors (so the ASL sees our names)."""
    try:
        yield
    except NovitaError as error:
        raise translate_novita_error(error, refused=refused) from None
