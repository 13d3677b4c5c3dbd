"""PollStatus: read the instance, report its phase (a notification only when the phase changes),
fail fast on statusError or a status that will not lead to ``running``, fail on the deadline, and
otherwise choose the next wait from recent startups of the same product."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.models import is_documented_status
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.observability import logger
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.store.startup_stats_store import StartupStatsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import StartupFailed, StartupTimeout, novita_errors_translated
from novita_orchestrator.workflow.notifications import epoch_of_iso, iso
from novita_orchestrator.workflow.polling import PollBounds, Schedule, next_poll_delay
from novita_orchestrator.workflow.progress import Subject, change_phase
from novita_orchestrator.workflow.state import Target


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
    novita: NovitaClient,
    operations: OperationsStore,
    stats: StartupStatsStore,
    clock: Clock,
    settings: PollSettings,
    previous_status: str | None = None,
) -> dict[str, Any]:
    """``{"outcome": "waiting"|"running", "phase", "delaySeconds", "polls", "notification", "status"}``.

    ``previous_status`` is the Novita status the poll before saw (``status`` of its result)."""
    with novita_errors_translated():
        instance = novita.get_instance(instance_id)
    now = clock.now()
    poll_number = polls_so_far + 1
    elapsed = max(0.0, now - target.started_at)
    if not is_documented_status(instance.status) and instance.status != previous_status:
        logger.info(
            "Novita reports a status it does not document; waiting through it",
            extra={"instance_id": instance_id, "instance_status": instance.status},
        )
    verdict = phases.judge_status(
        instance, seconds_since_launch=elapsed, error_at_launch=target.prior_status_error
    )
    if verdict.failure is not None:
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
        return _result("running", phase, 0, poll_number, message, instance.status)
    remaining = target.deadline - now
    if remaining <= 0:
        raise StartupTimeout(
            f"instance {instance_id} is still {instance.status} after {elapsed:.0f} s "
            f"(deadline passed after {poll_number} polls)"
        )
    history = stats.recent(target.product_id, settings.history_size) if target.product_id else []
    delay = next_poll_delay(
        elapsed=elapsed,
        polls_so_far=polls_so_far,
        recent_durations=history,
        bounds=settings.bounds,
        remaining=remaining,
        schedule=settings.schedule,
    )
    return _result("waiting", phase, wait_seconds(delay), poll_number, message, instance.status)


def wait_seconds(delay: float) -> int:
    """Step Functions waits whole seconds: round up, and never 0 (a busy loop) unless told 0."""
    return max(1, math.ceil(delay - 1e-9)) if delay > 0 else 0


def _result(
    outcome: str, phase: str, delay: int, polls: int, message: dict[str, Any] | None, status: str
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "phase": phase,
        "delaySeconds": delay,
        "polls": polls,
        "notification": message,
        "status": status,
    }
