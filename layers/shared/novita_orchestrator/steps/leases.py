"""Auto-stop leases: when one runs out, what a heartbeat or a change does to it, what the lease
watcher does when it wakes, and reading and changing a lease (the API, ResolveTarget,
FinishOperation and the watcher share these).

A lease belongs to one instance and was set by one start or create (``operation_id``); a new start
of the instance supersedes it (and sets a new one, with the next ``version``, if it asks for one).
``revision`` counts every write, so the store replaces a lease only if nobody changed it since it
was read (:func:`update` reads, decides and tries again). The watcher sleeps until the warning is
due or the lease runs out, reads the lease again and decides; a heartbeat only moves the expiry in
the record (the watcher learns of it at its next wake-up), so heartbeats never wake it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from novita_orchestrator.observability import logger
from novita_orchestrator.store.lease_store import (
    ACTIVE,
    CANCELLED,
    CLAIMED,
    SUPERSEDED,
    Lease,
    LeaseChanged,
    LeaseStore,
)
from novita_orchestrator.workflow.errors import LeaseNotFound, LeaseSuperseded

#: Wake-ups one watcher execution makes before it hands over to a fresh one (its history stays far
#: below Step Functions' 25,000 events: each wake-up adds about 8).
MAX_WAKEUPS = 500
_ATTEMPTS = 5


def heartbeat(lease: Lease, *, now: float) -> Lease:
    return replace(lease, revision=lease.revision + 1, last_heartbeat_at=max(now, lease.last_heartbeat_at))


def changed(
    lease: Lease, *, now: float, after_seconds: float | None, idle_seconds: float | None, cancel: bool
) -> Lease:
    """``afterSeconds``: run out that long from now (extend or shorten); ``idleSeconds``: the idle
    time; ``cancel``: never stop. What is not given stays."""
    if cancel:
        return cancelled(lease)
    return replace(
        lease,
        revision=lease.revision + 1,
        stop_at=now + after_seconds if after_seconds is not None else lease.stop_at,
        idle_seconds=idle_seconds if idle_seconds is not None else lease.idle_seconds,
    )


def cancelled(lease: Lease) -> Lease:
    return replace(lease, revision=lease.revision + 1, state=CANCELLED)


def superseded(lease: Lease) -> Lease:
    return replace(lease, revision=lease.revision + 1, state=SUPERSEDED)


@dataclass(frozen=True)
class WatchDecision:
    """``end``; ``warn`` (send the warning, then wait); ``wait``; ``claim`` (stop it now); ``renew``
    (hand over to a fresh watcher execution)."""

    action: Literal["end", "warn", "wait", "claim", "renew"]
    wait_seconds: float = 0.0


def decide(lease: Lease | None, *, version: int, now: float, wakeups: int) -> WatchDecision:
    if lease is None or lease.version != version or lease.state in {CANCELLED, SUPERSEDED}:
        return WatchDecision("end")
    if lease.state == CLAIMED:
        return WatchDecision("claim")  # its stop is started again, by the same name: once
    if now >= lease.expires_at:
        # Woken late (past the warning's time): warn now and stop right after, never unwarned.
        return WatchDecision("claim") if lease.warned else WatchDecision("warn", 1.0)
    if wakeups >= MAX_WAKEUPS:
        return WatchDecision("renew")
    if now >= lease.warn_at and not lease.warned:
        return WatchDecision("warn", lease.expires_at - now)
    wake_at = lease.expires_at if lease.warned or now >= lease.warn_at else lease.warn_at
    return WatchDecision("wait", max(0.0, wake_at - now))


def update(
    store: LeaseStore, instance_id: str, change: Callable[[Lease | None], Lease | None]
) -> Lease | None:
    """Apply ``change`` to the current lease (None: leave it) until it lands; the lease as written."""
    for _ in range(_ATTEMPTS):
        current = store.get(instance_id)
        wanted = change(current)
        if wanted is None or wanted == current:
            return current
        try:
            store.put(wanted, replacing=current)
        except LeaseChanged:
            continue
        return wanted
    raise LeaseChanged(f"the lease of {instance_id} kept changing; try again")


def arm(
    store: LeaseStore,
    instance_id: str,
    *,
    operation_id: str,
    after_seconds: float | None,
    idle_seconds: float | None,
    warn_seconds: float,
    webhook_url: str | None,
    now: float,
) -> Lease:
    """The lease of a ready start or create (a retried finish finds the one it set)."""

    def change(current: Lease | None) -> Lease | None:
        if current is not None and current.operation_id == operation_id:
            return None
        # The next version of the instance's lease (replacing any earlier one).
        return Lease(
            instance_id=instance_id,
            version=(current.version + 1) if current is not None else 1,
            revision=(current.revision + 1) if current is not None else 1,
            operation_id=operation_id,
            state=ACTIVE,
            stop_at=now + after_seconds if after_seconds is not None else None,
            idle_seconds=idle_seconds,
            warn_seconds=warn_seconds,
            last_heartbeat_at=now,
            webhook_url=webhook_url,
        )

    armed = update(store, instance_id, change)
    assert armed is not None
    return armed


def supersede(store: LeaseStore, instance_id: str) -> None:
    """A newer operation drives the instance: its lease (active, or claimed and not yet stopping
    the instance) stops nothing any more."""
    update(
        store,
        instance_id,
        lambda current: (
            superseded(current) if current is not None and current.state in {ACTIVE, CLAIMED} else None
        ),
    )


def check_claimed(store: LeaseStore, instance_id: str, version: int) -> None:
    """A lease stop goes on only while its lease is still the claimed one; else LeaseSuperseded."""
    current = store.get(instance_id)
    if current is None or current.version != version or current.state != CLAIMED:
        raise LeaseSuperseded(
            f"the auto-stop lease {version} of {instance_id} was superseded by a newer operation: "
            "the instance is not stopped"
        )


def change_active(store: LeaseStore, instance_id: str, change: Callable[[Lease], Lease]) -> Lease:
    """Heartbeat or change an active lease; LeaseNotFound when there is none."""

    def on_active(current: Lease | None) -> Lease | None:
        if current is None or current.state != ACTIVE:
            raise LeaseNotFound(f"instance {instance_id} has no active auto-stop lease")
        return change(current)

    changed = update(store, instance_id, on_active)
    assert changed is not None
    return changed


@dataclass(frozen=True)
class ExecutionStarter:
    """``StartExecution`` by name: a repeated name (a retried step) starts nothing twice."""

    stepfunctions: Any

    def start(self, state_machine_arn: str, name: str, document: dict[str, Any]) -> None:
        try:
            self.stepfunctions.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(document)
            )
        except self.stepfunctions.exceptions.ExecutionAlreadyExists:
            logger.info("execution already started", extra={"execution_name": name})


def watcher_name(lease_operation_id: str, generation: int) -> str:
    """``lease-<the 32 hex digits of the operation that set it>-g<generation>``: unique per lease."""
    return f"lease-{lease_operation_id.removeprefix('op-')}-g{generation}"


def watcher_input(lease: Lease, generation: int) -> dict[str, Any]:
    """The lease watcher's execution input: its lease, and a seed that wakes it at once."""
    return {
        "lease": {
            "instanceId": lease.instance_id,
            "version": lease.version,
            "operationId": lease.operation_id,
        },
        "watch": {"action": "wait", "waitSeconds": 0, "wakeups": 0, "generation": generation},
    }
