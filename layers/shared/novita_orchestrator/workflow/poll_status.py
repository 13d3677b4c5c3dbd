"""PollStatus: read the instance, report its phase (a notification only when the phase changes),
fail fast on statusError or a status that will not lead to ``running``, fail on the deadline, and
otherwise choose the next wait from recent startups of the same product."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.models import Instance, is_documented_status
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.observability import logger
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.store.startup_stats_store import StartupStatsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import StartupFailed, StartupTimeout, novita_errors_translated
from novita_orchestrator.workflow.notifications import epoch_of_iso, iso
from novita_orchestrator.workflow.polling import (
    PollBounds,
    Schedule,
    next_poll_delay,
    still_booting_probability,
)
from novita_orchestrator.workflow.progress import Subject, change_phase
from novita_orchestrator.workflow.state import Target
from novita_orchestrator.workflow.status_reader import StatusReader

#: A poll reads by GET at least this often: a listing that lags behind (Novita's list view cached,
#: say) delays noticing ``running`` by at most this much, and never makes an operation time out.
CONFIRM_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class PollSettings:
    bounds: PollBounds
    history_size: int
    schedule: Schedule = "adaptive"


def poll_status(
    *,
    operation_id: str,
    target: Target,
    instance_id: str,
    polls_so_far: int,
    webhook_url: str | None,
    reader: StatusReader,
    launched_at: float | None = None,
    confirmed_at: float | None = None,
    operations: OperationsStore,
    stats: StartupStatsStore,
    clock: Clock,
    settings: PollSettings,
    previous_status: str | None = None,
) -> dict[str, Any]:
    """``{"outcome": "waiting"|"running", "phase", "delaySeconds", "polls", "notification", "status",
    "confirmedAt"}``, and ``"instance"`` (name and port mappings, read by GET) once running, for the
    first health check. ``confirmedAt``: when Novita last answered this operation itself (a GET, or
    the launch); shared rows are used only while that is under ``CONFIRM_EVERY_SECONDS`` ago.

    ``previous_status`` is the Novita status the poll before saw (``status`` of its result)."""
    since_launch = clock.now() - launched_at if launched_at is not None else math.inf
    if polls_so_far == 0 and since_launch < settings.bounds.min_seconds:
        # Novita took the start or create a moment ago: a read now could only say so. The first read
        # comes once the shortest wait has passed since the launch.
        # It does not count for the snapshot yet: only an instance seen still on its way does.
        delay = wait_seconds(settings.bounds.min_seconds - since_launch)
        launching = phases.CREATING if target.kind == "create" else phases.STARTING
        return _result("waiting", launching, delay, 0, None, previous_status, launched_at)
    # One elapsed time for both judgements, so a status a shared row showed is judged the same twice.
    elapsed = max(0.0, clock.now() - target.started_at)
    confirmed = confirmed_at if confirmed_at is not None else launched_at
    shared_ok = confirmed is not None and clock.now() - confirmed < CONFIRM_EVERY_SECONDS
    with novita_errors_translated():
        read = reader.instance(
            instance_id, settles=lambda seen: _settles(seen, elapsed, target), shared_ok=shared_ok
        )
    instance = read.instance
    now = clock.now()
    if not read.shared:
        confirmed = now
    poll_number = polls_so_far + 1
    if not is_documented_status(instance.status) and instance.status != previous_status:
        logger.info(
            "Novita reports a status it does not document; waiting through it",
            extra={"instance_id": instance_id, "instance_status": instance.status},
        )
    verdict = phases.judge_status(
        instance, seconds_since_launch=elapsed, error_at_launch=target.prior_status_error
    )
    if verdict.failure is not None:
        reader.unwatch(operation_id)
        raise StartupFailed(redact_text(verdict.failure))

    subject = Subject(operation_id, instance_id, instance.name or target.instance_name, webhook_url)
    counters = {"polls": poll_number}
    phase = verdict.phase
    message: dict[str, Any] | None = None
    if phase is None:
        operations.record_counters(operation_id, now=now, counters=counters)
        current = operations.get(operation_id)
        phase = current.phase if current is not None else phases.STARTING
    else:
        event_type = notifications.PROGRESS
        change, message = change_phase(
            operations,
            subject,
            phase=phase,
            event_type=event_type,
            change_key=f"poll:{poll_number}",
            now=now,
            counters=counters,
        )
        if phase == phases.RUNNING and change.notify and target.product_id:
            running_at = change.phases.get(phases.RUNNING, iso(now))
            stats.record(
                target.product_id,
                operation_id=operation_id,
                running_at=running_at,
                duration_seconds=max(0.0, epoch_of_iso(running_at, default=now) - target.started_at),
                now=now,
            )

    if phase == phases.RUNNING:
        reader.unwatch(operation_id)
        running = _result("running", phase, 0, poll_number, message, instance.status, confirmed)
        return running if read.shared else running | {"instance": running_instance_state(instance)}
    remaining = target.deadline - now
    if remaining <= 0:
        reader.unwatch(operation_id)
        raise StartupTimeout(
            f"instance {instance_id} is still {instance.status} after {elapsed:.0f} s "
            f"(deadline passed after {poll_number} polls)"
        )
    history = stats.recent(target.product_id, settings.history_size) if target.product_id else []
    delay = wait_seconds(
        next_poll_delay(
            elapsed=elapsed,
            polls_so_far=polls_so_far,
            recent_durations=history,
            bounds=settings.bounds,
            remaining=remaining,
            schedule=settings.schedule,
        )
    )
    reader.watch(
        operation_id,
        instance_id=instance_id,
        until=target.deadline,
        read_at=now + delay,
        booting=still_booting_probability(elapsed=elapsed, wait=delay, recent_durations=history),
    )
    return _result("waiting", phase, delay, poll_number, message, instance.status, confirmed)


def _settles(instance: Instance, seconds_since_launch: float, target: Target) -> bool:
    """Whether this status would end the polling (running, or a failure): then it is read by GET."""
    verdict = phases.judge_status(
        instance, seconds_since_launch=seconds_since_launch, error_at_launch=target.prior_status_error
    )
    return verdict.failure is not None or verdict.phase == phases.RUNNING


def running_instance_state(instance: Instance) -> dict[str, Any]:
    """What the first health check needs of the running instance: its name and port mappings (no
    credentials live there), so it need not read Novita again."""
    return {
        "name": instance.name,
        "portMappings": [
            {"port": m.port, "type": m.type, "endpoint": m.endpoint} for m in instance.port_mappings
        ],
    }


def wait_seconds(delay: float) -> int:
    """Step Functions waits whole seconds: round up, and never 0 (a busy loop) unless told 0."""
    return max(1, math.ceil(delay - 1e-9)) if delay > 0 else 0


def _result(
    outcome: str,
    phase: str,
    delay: int,
    polls: int,
    message: dict[str, Any] | None,
    status: str | None,
    confirmed_at: float | None = None,
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "phase": phase,
        "delaySeconds": delay,
        "polls": polls,
        "notification": message,
        "status": status,
        "confirmedAt": round(confirmed_at, 3) if confirmed_at is not None else None,
    }
