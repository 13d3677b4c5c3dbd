"""Typed results of the API's answers (frozen dataclasses; ``raw`` keeps the whole JSON object).

Parsing is tolerant: a field the API adds later is kept in ``raw`` and ignored here, and an optional
field that is missing reads as ``None`` (or empty), so a newer service does not break an older client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: The operation statuses the API reports today; ``running`` is the only one that is not final.
RUNNING, READY, FAILED = "running", "ready", "failed"
#: How a stop and a delete end well.
STOPPED, DELETED = "stopped", "deleted"
#: The auto-stop lease state in which it will stop its instance.
ACTIVE = "active"


@dataclass(frozen=True)
class Outcome:
    """Why an operation failed: a stable ``code`` (``STARTUP_FAILED``, ``INSTANCE_NOT_FOUND``, ...)."""

    code: str
    message: str


@dataclass(frozen=True)
class Accepted:
    """A start or create was accepted (202): follow it with ``wait()`` / ``operation()``."""

    operation_id: str
    status_url: str
    kind: str
    target: str
    instance_id: str | None
    status: str
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Accepted:
        return cls(
            operation_id=str(body["operationId"]),
            status_url=str(body.get("statusUrl") or ""),
            kind=str(body.get("kind") or ""),
            target=str(body.get("target") or ""),
            instance_id=optional_text(body.get("instanceId")),
            status=str(body.get("status") or RUNNING),
            raw=body,
        )


@dataclass(frozen=True)
class Operation:
    """One operation as ``GET /operations/{id}`` shows it."""

    operation_id: str
    kind: str
    target: str
    status: str
    phase: str
    #: When each phase was entered.
    phases: Mapping[str, datetime]
    phase_durations_seconds: Mapping[str, float]
    #: Notification types sent so far, in order.
    notifications: tuple[str, ...]
    outcome: Outcome | None
    instance_id: str | None
    instance_name: str | None
    polls: int
    health_checks: int
    created_at: datetime | None
    updated_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def finished(self) -> bool:
        return self.status != RUNNING

    @property
    def ready(self) -> bool:
        """Ended well: ``ready`` (start, create), ``stopped`` (stop) or ``deleted`` (delete)."""
        return self.status in {READY, STOPPED, DELETED}

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Operation:
        outcome = body.get("outcome")
        phases = body.get("phases") or {}
        durations = body.get("phaseDurationsSeconds") or {}
        return cls(
            operation_id=str(body["operationId"]),
            kind=str(body.get("kind") or ""),
            target=str(body.get("target") or ""),
            status=str(body["status"]),
            phase=str(body.get("phase") or ""),
            phases={str(name): at for name, value in phases.items() if (at := parse_time(value)) is not None},
            phase_durations_seconds={str(name): float(seconds) for name, seconds in durations.items()},
            notifications=tuple(str(n) for n in body.get("notifications") or ()),
            outcome=outcome_of(outcome),
            instance_id=optional_text(body.get("instanceId")),
            instance_name=optional_text(body.get("instanceName")),
            polls=int(body.get("polls") or 0),
            health_checks=int(body.get("healthChecks") or 0),
            created_at=parse_time(body.get("createdAt")),
            updated_at=parse_time(body.get("updatedAt")),
            raw=body,
        )


@dataclass(frozen=True)
class Lease:
    """An instance's auto-stop lease: ``state`` ``active`` (it stops the instance at ``expires_at``),
    ``cancelled``, ``superseded`` (a newer operation drives the instance) or ``claimed`` (it ran out
    and started the stop ``stop_operation_id``)."""

    state: str
    #: The start or create that set it.
    operation_id: str
    version: int
    #: When it stops the instance: ``stop_at`` or ``idle_seconds`` after ``last_heartbeat_at``,
    #: whichever comes first.
    expires_at: datetime | None
    #: When ``instance.autostop.pending`` goes out.
    warn_at: datetime | None
    stop_at: datetime | None
    idle_seconds: float | None
    last_heartbeat_at: datetime | None
    stop_operation_id: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Lease:
        return cls(
            state=str(body.get("state") or ""),
            operation_id=str(body.get("operationId") or ""),
            version=int(body.get("version") or 0),
            expires_at=parse_time(body.get("expiresAt")),
            warn_at=parse_time(body.get("warnAt")),
            stop_at=parse_time(body.get("stopAt")),
            idle_seconds=optional_number(body.get("idleSeconds")),
            last_heartbeat_at=parse_time(body.get("lastHeartbeatAt")),
            stop_operation_id=optional_text(body.get("stopOperationId")),
            raw=body,
        )


@dataclass(frozen=True)
class Port:
    port: int
    type: str
    endpoint: str | None


@dataclass(frozen=True)
class Instance:
    """An instance as the API shows it: no passwords, environment variable names only."""

    instance_id: str
    name: str
    status: str
    status_error: Outcome | None
    product_id: str | None
    image_url: str | None
    ports: tuple[Port, ...]
    env_names: tuple[str, ...]
    running_operation_id: str | None
    #: The auto-stop lease (its latest, whatever its state), or None when it never had one.
    auto_stop: Lease | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Instance:
        status_error = body.get("statusError")
        auto_stop = body.get("autoStop")
        return cls(
            instance_id=str(body["instanceId"]),
            name=str(body.get("name") or ""),
            status=str(body.get("status") or ""),
            status_error=(
                Outcome(str(status_error.get("state") or ""), str(status_error.get("message") or ""))
                if isinstance(status_error, Mapping)
                else None
            ),
            product_id=optional_text(body.get("productId")),
            image_url=optional_text(body.get("imageUrl")),
            ports=tuple(
                Port(int(p["port"]), str(p.get("type") or ""), optional_text(p.get("endpoint")))
                for p in body.get("ports") or ()
            ),
            env_names=tuple(str(n) for n in body.get("envNames") or ()),
            running_operation_id=optional_text(body.get("runningOperationId")),
            auto_stop=Lease.from_json(auto_stop) if isinstance(auto_stop, Mapping) else None,
            raw=body,
        )


@dataclass(frozen=True)
class Cancelled:
    """``cancel``'s answer: whether this call cancelled the operation (False: it had already ended,
    and nothing changed), and the operation as it is now."""

    cancelled: bool
    operation: Operation

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Cancelled:
        return cls(
            cancelled=bool(body.get("cancelled")), operation=Operation.from_json(body.get("operation") or {})
        )


@dataclass(frozen=True)
class Health:
    """``ok``, or ``degraded`` when Novita's breaker is not closed or webhooks wait in the DLQ."""

    status: str
    resilience: Mapping[str, Any]
    dead_letter_depth: int | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Health:
        dead_letters = body.get("webhookDeadLetterQueue") or {}
        depth = dead_letters.get("depth")
        return cls(
            status=str(body.get("status") or ""),
            resilience=body.get("resilience") or {},
            dead_letter_depth=int(depth) if isinstance(depth, int) else None,
            raw=body,
        )


def optional_text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def optional_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def outcome_of(value: Any) -> Outcome | None:
    """``{code, message}`` as an :class:`Outcome`; None when absent."""
    if not isinstance(value, Mapping):
        return None
    return Outcome(code=str(value.get("code") or ""), message=str(value.get("message") or ""))


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (``Z`` accepted) or epoch seconds; None when absent or unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
