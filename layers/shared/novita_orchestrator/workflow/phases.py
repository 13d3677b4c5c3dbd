"""Instance status -> workflow phase, and which statuses end a startup as failed.

Novita has no ``failed`` status: a failed create or start shows as ``statusError`` (often with the
instance back at ``exited``). Whether Novita clears an old ``statusError`` when a new start begins is
undocumented, so only one that is new or changed since the launch fails a startup. Statuses Novita
does not document (``pending`` is seen in practice) are waited through: they keep the current phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novita_orchestrator.novita.models import Instance, StatusError
from novita_orchestrator.novita.redaction import redact_text

RESOLVING = "resolving"
CREATING = "creating"
STARTING = "starting"
PULLING = "pulling"
RUNNING = "running"
HEALTH_CHECK = "health_check"
READY = "ready"
FAILED = "failed"
#: The stop workflow's phases (a delete goes deleting -> deleted).
STOPPING = "stopping"
STOPPED = "stopped"
DELETING = "deleting"
DELETED = "deleted"

#: Seconds after a start was accepted during which a plain ``exited`` (no statusError) is not yet a
#: failure: Novita may show the old status for a moment before ``toStart``.
EXITED_GRACE_SECONDS = 60.0

_PHASE_OF_STATUS = {
    "toCreate": CREATING,
    "creating": CREATING,
    "toStart": STARTING,
    "starting": STARTING,
    "toRestart": STARTING,
    "restarting": STARTING,
    "pulling": PULLING,
    "running": RUNNING,
}
#: Statuses from which a startup cannot reach ``running`` on its own.
_FAILED_STATUSES = frozenset({"toStop", "stopping", "toRemove", "removing", "removed", "freezing"})


@dataclass(frozen=True)
class StatusVerdict:
    #: The phase the instance is in, or None to keep the current phase (transitional/unknown status).
    phase: str | None
    #: Why the startup failed, or None.
    failure: str | None = None


def phase_of_status(status: str) -> str | None:
    return _PHASE_OF_STATUS.get(status)


#: ``error_at_launch`` when the statusError before the launch is not known (the start was resolved
#: from an older shared snapshot): a statusError is then not taken as this start's at once.
PRIOR_ERROR_UNKNOWN: dict[str, Any] = {"unknown": True}


def status_error_record(error: StatusError | None) -> dict[str, Any] | None:
    """A ``statusError`` as kept in the workflow state (message redacted) and compared later."""
    if error is None:
        return None
    return {"state": error.state, "message": redact_text(error.message) if error.message else None}


def judge_status(
    instance: Instance, *, seconds_since_launch: float, error_at_launch: dict[str, Any] | None = None
) -> StatusVerdict:
    """What one status read means for a startup in progress.

    ``error_at_launch`` is the ``statusError`` the instance showed before this operation launched it
    (:func:`status_error_record`): the same one again is an old failure, not this start's.
    """
    status = instance.status
    error = instance.status_error
    new_error = error is not None and status_error_record(error) != error_at_launch
    if status != "running" and new_error and error_at_launch != PRIOR_ERROR_UNKNOWN:
        assert error is not None
        detail = error.message or error.state or "no message"
        return StatusVerdict(phase=None, failure=f"Novita reports instance {instance.id} {status}: {detail}")
    if status in _FAILED_STATUSES:
        return StatusVerdict(phase=None, failure=f"instance {instance.id} is {status}; it will not start")
    if status == "exited":
        if seconds_since_launch < EXITED_GRACE_SECONDS:
            return StatusVerdict(phase=None)
        old = f" (its statusError from before this start: {error.message})" if error and error.message else ""
        waited = f"{seconds_since_launch:.0f} s"
        return StatusVerdict(
            phase=None, failure=f"instance {instance.id} is still exited {waited} after the launch{old}"
        )
    return StatusVerdict(phase=phase_of_status(status))
