"""WatchLease (the lease watcher): wake up, read the lease again and act. A lease that was
cancelled, superseded or replaced ends the watcher; a warning that is due is recorded (once per
expiry) and sent; a lease that ran out is claimed by one conditional write and its stop operation
started under a name derived from the lease, so a repeat starts no second stop. After
``MAX_WAKEUPS`` the watcher hands over to a fresh execution (the history limit)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.observability import logger
from novita_orchestrator.steps.leases import (
    ExecutionStarter,
    decide,
    update,
    watcher_input,
    watcher_name,
)
from novita_orchestrator.store.lease_store import ACTIVE, CLAIMED, Lease, LeaseStore
from novita_orchestrator.times import iso
from novita_orchestrator.workflow import notifications
from novita_orchestrator.workflow.notifications import build_event, event_id, queue_message
from novita_orchestrator.workflow.polling import wait_seconds
from novita_orchestrator.workflow.request import parse_request, start_input
from novita_orchestrator.workflow.state import Notification, WatchResult, WatchState

_STOP_NAMESPACE = uuid.UUID("0f6b5a1e-9c1d-4d7a-8f3e-2b6c4d8e1a57")


@dataclass(frozen=True)
class WatchLeaseDeps:
    leases: LeaseStore
    starter: ExecutionStarter
    #: STOP_STATE_MACHINE_ARN: where a lease that ran out starts its stop.
    stop_state_machine_arn: str
    #: LEASE_STATE_MACHINE_ARN: this watcher's own state machine (a fresh execution takes over).
    lease_state_machine_arn: str
    clock: Clock


def lease_stop_operation_id(lease_operation_id: str) -> str:
    """The one stop operation a lease may start (the lease is named by the operation that set it)."""
    return f"op-{uuid.uuid5(_STOP_NAMESPACE, lease_operation_id).hex}"


def watch_lease(state: WatchState, deps: WatchLeaseDeps) -> WatchResult:
    instance_id, version, owner = state.lease.instance_id, state.lease.version, state.lease.operation_id
    wakeups, generation = state.watch.wakeups + 1, state.watch.generation
    now = deps.clock.now()
    lease = deps.leases.get(instance_id)
    decision = decide(lease, version=version, now=now, wakeups=wakeups)
    if decision.action == "claim":
        lease = _claim(deps, instance_id, version, lease_stop_operation_id(owner), now)
        if lease is not None and lease.state == CLAIMED and lease.version == version:
            _start_stop(deps, lease)
            return WatchResult(action="end", wakeups=wakeups, generation=generation)
        decision = decide(lease, version=version, now=now, wakeups=wakeups)  # postponed meanwhile
    if decision.action == "renew" and lease is not None:
        next_generation = watcher_input(lease, generation + 1)
        deps.starter.start(deps.lease_state_machine_arn, watcher_name(owner, generation + 1), next_generation)
        logger.info("lease watcher renewed", extra={"instance_id": instance_id, "generation": generation + 1})
        return WatchResult(action="end", wakeups=wakeups, generation=generation)
    notification = _warning(deps, instance_id, version, now) if decision.action == "warn" else None
    if decision.action in {"warn", "wait", "claim"}:
        seconds = wait_seconds(max(decision.wait_seconds, 1.0))
        return WatchResult(
            action="wait",
            wait_seconds=seconds,
            notification=notification,
            wakeups=wakeups,
            generation=generation,
        )
    logger.info("lease watcher ended", extra={"instance_id": instance_id, "version": version})
    return WatchResult(action="end", wakeups=wakeups, generation=generation)


def _claim(deps: WatchLeaseDeps, instance_id: str, version: int, stop_id: str, now: float) -> Lease | None:
    def claim(current: Lease | None) -> Lease | None:
        ready = current is not None and current.version == version and current.state == ACTIVE
        if not ready or current is None or now < current.expires_at:
            return None
        return replace(current, revision=current.revision + 1, state=CLAIMED, stop_operation_id=stop_id)

    return update(deps.leases, instance_id, claim)


def _start_stop(deps: WatchLeaseDeps, lease: Lease) -> None:
    assert lease.stop_operation_id is not None
    request: dict[str, Any] = {"stop": {"ref": lease.instance_id, "leaseVersion": lease.version}}
    if lease.webhook_url:
        request["webhook"] = {"url": lease.webhook_url}
    document = start_input(parse_request(request), lease.stop_operation_id)
    deps.starter.start(deps.stop_state_machine_arn, lease.stop_operation_id, document)
    logger.info(
        "auto-stop lease ran out: stop started",
        extra={"instance_id": lease.instance_id, "operation_id": lease.stop_operation_id},
    )


def _warning(deps: WatchLeaseDeps, instance_id: str, version: int, now: float) -> Notification | None:
    """Record that the warning for this expiry went out; the message (None if it already had)."""

    def warned(current: Lease | None) -> Lease | None:
        if current is None or current.version != version or current.state != ACTIVE or current.warned:
            return None
        return replace(current, revision=current.revision + 1, warned_for=current.expires_at)

    lease = update(deps.leases, instance_id, warned)
    if lease is None or not lease.warned or lease.version != version:
        return None
    event = build_event(
        event_type=notifications.AUTOSTOP_PENDING,
        operation_id=lease.operation_id,
        instance_id=instance_id,
        instance_name=None,
        phase="autostop_pending",
        phases={},
        now=now,
        extra={"leaseVersion": version, "expiresAt": iso(lease.expires_at), "stopOperationId": None},
    )
    # One id per warned expiry: a postponed lease warns again, a repeated wake-up does not.
    event["id"] = event_id(
        lease.operation_id, notifications.AUTOSTOP_PENDING, f"v{version}@{lease.expires_at:.3f}"
    )
    return queue_message(lease.webhook_url, event)
