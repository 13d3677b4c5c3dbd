"""Errors the workflow's Lambdas raise. Each class name is the error name the state machine sees
(``Catch``/``Retry`` match on it), and each ``code`` is what the failure notification reports.

The one error-code table (:data:`ERROR_CODES`) is derived from these classes and from the Novita
client's; :data:`TRANSIENT_ERRORS` are the names the state machine retries (the ASL's Retry lists
hold exactly these, tests/unit/test_template.py checks it).

Messages are built by this service (Novita's own words only after redaction) and never carry secrets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from novita_orchestrator.novita.errors import NovitaError
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.resilience.errors import BreakerOpen, RateLimitExhausted

E = TypeVar("E", bound=Exception)


class WorkflowError(Exception):
    """Base of every domain error of the startup workflow."""

    code = "INTERNAL"
    #: Whether the state machine retries a task that failed with it (the same call may succeed later).
    transient = False

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


class NoMatchingOffer(WorkflowError):
    """No deployable Novita product matches a create's ``gpu`` request (the message says why each
    product of that type was left out)."""

    code = "NO_MATCHING_OFFER"


class CapacityUnavailable(WorkflowError):
    """Every offer of a create by GPU type was sold out; the message names each offer tried."""

    code = "NO_CAPACITY"


class StartupFailed(WorkflowError):
    code = "STARTUP_FAILED"


class StartupTimeout(WorkflowError):
    code = "STARTUP_TIMEOUT"


class StopRefused(WorkflowError):
    """Novita refused the stop or the delete."""

    code = "STOP_REFUSED"


class StopTimeout(WorkflowError):
    """The instance was not ``exited`` (stop) or gone (delete) by the operation's deadline."""

    code = "STOP_TIMEOUT"


class LeaseNotFound(WorkflowError):
    """The instance has no active auto-stop lease (none was set, or it ended)."""

    code = "LEASE_NOT_FOUND"


class LeaseNotArmed(WorkflowError):
    """A ready start or create asked for an auto-stop lease that could not be set."""

    code = "LEASE_NOT_ARMED"


class LeaseSuperseded(WorkflowError):
    """A newer operation drove the instance after the lease this stop enforces: nothing is stopped."""

    code = "LEASE_SUPERSEDED"


class AppNeverHealthy(WorkflowError):
    code = "APP_NEVER_HEALTHY"


class HealthPortNotMapped(WorkflowError):
    """The requested health port is not among the running instance's port mappings (it never will be:
    an instance's ports are fixed when it is created)."""

    code = "HEALTH_PORT_NOT_MAPPED"


class HealthTargetRefused(WorkflowError):
    """The outbound guard refused a probe address (loopback, private, link-local/metadata)."""

    code = "HEALTH_TARGET_REFUSED"


class NovitaTransientError(WorkflowError):
    """Novita failed in a way that may pass (5xx, timeout, network, 429) after the client's own retries.

    Read-only tasks may Retry it in the state machine; if it persists the operation fails with it."""

    code = "NOVITA_UNAVAILABLE"
    transient = True


class NovitaUnavailable(WorkflowError):
    """The shared circuit breaker (or rate-limit budget) refused the call: do not retry, fail cleanly."""

    code = "NOVITA_UNAVAILABLE"


class NovitaRequestFailed(WorkflowError):
    """Novita answered a business error this step has no better name for."""

    code = "NOVITA_ERROR"


def _subclasses(cls: type[E]) -> list[type[E]]:
    found: list[type[E]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


#: The refusals of the shared guard: nothing reached Novita, and retrying now would only be refused.
_GUARD_REFUSALS: tuple[type[NovitaError], ...] = (BreakerOpen, RateLimitExhausted)


def _novita_kind(error: type[NovitaError]) -> type[WorkflowError]:
    """What a Novita client error means for a step: unavailable, transient, or a refusal."""
    if issubclass(error, _GUARD_REFUSALS):
        return NovitaUnavailable
    if error.retryable or error.upstream_failure:
        return NovitaTransientError
    return NovitaRequestFailed


def _error_codes() -> dict[str, str]:
    # Every class the state machine may name: the Novita client's (the steps translate them, so they
    # appear only if one escapes; the guard's refusals are imported above), the workflow's own (all
    # defined in this module), and Step Functions' own timeout.
    novita_classes: list[type[NovitaError]] = [NovitaError, *_subclasses(NovitaError)]
    codes = {cls.__name__: _novita_kind(cls).code for cls in novita_classes}
    codes |= {cls.__name__: cls.code for cls in _subclasses(WorkflowError)}
    codes["States.Timeout"] = StartupTimeout.code
    return codes


#: Error name (as the state machine reports it) -> the code of the failure notification.
ERROR_CODES: dict[str, str] = _error_codes()
#: The error names a workflow task is retried on (the ASL's Retry lists).
TRANSIENT_ERRORS: frozenset[str] = frozenset(
    cls.__name__ for cls in _subclasses(WorkflowError) if cls.transient
)


def code_for_error_name(name: str) -> str:
    """The notification code for an error name as the state machine reports it."""
    return ERROR_CODES.get(name, "INTERNAL")


def novita_message(error: NovitaError) -> str:
    """Novita's error text, redacted, for an outcome message."""
    return redact_text(error.message)


def translate_novita_error(
    error: NovitaError, *, refused: type[WorkflowError] = NovitaRequestFailed
) -> WorkflowError:
    """The workflow error for a Novita client error; ``refused`` names a business refusal in this step."""
    message = novita_message(error)
    kind = _novita_kind(type(error))
    if kind is NovitaUnavailable:
        return NovitaUnavailable(f"Novita is unavailable: {message}")
    if kind is NovitaTransientError:
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
