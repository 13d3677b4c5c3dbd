"""PollStatus: read the instance, report its phase (a notification only when the phase changes),
fail fast on statusError or a status that will not lead to ``running``, fail on the deadline, and
otherwise choose the next wait from recent startups of the same product."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.observability import logger
from novita_orchestrator.steps.progress import Subject, change_phase
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.store.startup_stats_store import StartupStatsStore
from novita_orchestrator.times import epoch_of_iso, iso
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import StartupFailed, StartupTimeout, novita_errors_translated
from novita_orchestrator.workflow.polling import PollBounds, next_poll_delay, wait_seconds
from novita_orchestrator.workflow.state import PollResult, StepState


@dataclass(frozen=True)
class PollStatusDeps:
    novita: NovitaClient
    operations: OperationsStore
    stats: StartupStatsStore
    clock: Clock
    #: POLL_MIN_SECONDS .. POLL_MAX_SECONDS.
    bounds: PollBounds
    #: STARTUP_HISTORY_SIZE: recent startups of the same product that adaptive polling uses.
    history_size: int


def poll_status(state: StepState, deps: PollStatusDeps) -> PollResult:
    """``waiting`` (with the next delay) or ``running``; StartupFailed / StartupTimeout otherwise."""
    target, operations, operation_id = state.target, deps.operations, state.operation_id
    instance_id = state.instance_id
    polls_so_far = state.poll.polls if state.poll else 0
    with novita_errors_translated():
        instance = deps.novita.get_instance(instance_id)
    now = deps.clock.now()
    poll_number = polls_so_far + 1
    elapsed = max(0.0, now - target.started_at)
    verdict = phases.judge_status(instance, seconds_since_launch=elapsed)
    if verdict.failure is not None:
        raise StartupFailed(redact_text(verdict.failure))

    subject = Subject(operation_id, instance_id, instance.name or target.instance_name, state.webhook_url)
    counters = {"polls": poll_number}
    phase = verdict.phase
    message: dict[str, Any] | None = None
    if phase is None:
        operations.record_counters(operation_id, now=now, counters=counters)
        current = operations.get(operation_id)
        phase = current.phase if current is not None else phases.STARTING
    else:
        change, message = change_phase(
            operations,
            subject,
            phase=phase,
            event_type=notifications.PROGRESS,
            change_key=f"poll:{poll_number}",
            now=now,
            counters=counters,
        )
        if phase == phases.RUNNING and change.notify and target.product_id:
            running_at = change.phases.get(phases.RUNNING, iso(now))
            running_epoch = epoch_of_iso(running_at) or now
            deps.stats.record(
                target.product_id,
                operation_id=operation_id,
                running_at=running_at,
                duration_seconds=max(0.0, running_epoch - target.started_at),
                now=now,
            )

    if phase == phases.RUNNING:
        result = PollResult(
            outcome="running", phase=phase, delay_seconds=0, polls=poll_number, notification=message
        )
    else:
        remaining = target.deadline - now
        if remaining <= 0:
            raise StartupTimeout(
                f"instance {instance_id} is still {instance.status} after {elapsed:.0f} s "
                f"(deadline passed after {poll_number} polls)"
            )
        history = deps.stats.recent(target.product_id, deps.history_size) if target.product_id else []
        delay = next_poll_delay(
            elapsed=elapsed,
            polls_so_far=polls_so_far,
            recent_durations=history,
            bounds=deps.bounds,
            remaining=remaining,
        )
        result = PollResult(
            outcome="waiting",
            phase=phase,
            delay_seconds=wait_seconds(delay),
            polls=poll_number,
            notification=message,
        )
    logger.info(
        "status polled",
        extra={"phase": result.phase, "outcome": result.outcome, "delay_seconds": result.delay_seconds},
    )
    return result
