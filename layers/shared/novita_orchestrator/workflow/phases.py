"""Instance status -> workflow phase, and which statuses end a startup as failed.

Novita has no ``failed`` status: a failed create or start shows as ``statusError`` (often with the
instance back at ``exited``). Statuses this code does not know are treated as transitional, as the
API notes advise.
"""

from __future__ import annotations

from dataclasses import dataclass

from novita_orchestrator.novita.models import Instance

RESOLVING = "resolving"
CREATING = "creating"
STARTING = "starting"
PULLING = "pulling"
RUNNING = "running"
HEALTH_CHECK = "health_check"
READY = "ready"
FAILED = "failed"

#: Seconds after a start was accepted during which a plain ``exited`` (no statusError) is not yet a
#: failure: Novita may show the old status for a moment before ``toStart``.
EXITED_GRACE_SECONDS = 60.0

_PHASE_OF_STATUS = {
    "toCreate": CREATING,
    "creating": CREATING,
    "pending": CREATING,  # seen right after create by some clients, not documented
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


def judge_status(instance: Instance, *, seconds_since_launch: float) -> StatusVerdict:
    """What one status read means for a startup in progress."""
    status = instance.status
    error = instance.status_error
    if status != "running" and error is not None:
        detail = error.message or error.state or "no message"
        return StatusVerdict(phase=None, failure=f"Novita reports instance {instance.id} {status}: {detail}")
    if status in _FAILED_STATUSES:
        return StatusVerdict(phase=None, failure=f"instance {instance.id} is {status}; it will not start")
    if status == "exited":
        if seconds_since_launch < EXITED_GRACE_SECONDS:
            return StatusVerdict(phase=None)
        return StatusVerdict(
            phase=None,
            failure=f"instance {instance.id} is still exited {seconds_since_launch:.0f} s after the launch",
        )
    return StatusVerdict(phase=phase_of_status(status))
