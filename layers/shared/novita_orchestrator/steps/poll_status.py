"""PollStatus: read the instance, report its phase (a notification only when the phase changes),
fail fast on a new statusError or a status that will not lead to ``running``, fail on the deadline,
and otherwise choose the next wait from recent startups of the same product.

Status reads go through the shared status snapshot (:mod:`.status_reader`) while the operation's own
GET is recent; whatever decides the operation is read by GET."""

from __future__ import annotations

import math
from dataclasses import dataclass

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.models import Instance, is_documented_status
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.observability import logger
from novita_orchestrator.steps.progress import Subject, change_phase
from novita_orchestrator.steps.status_reader import StatusReader
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.store.startup_stats_store import StartupStatsStore
from novita_orchestrator.times import epoch_of_iso, iso
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import StartupFailed, StartupTimeout, novita_errors_translated
from novita_orchestrator.workflow.polling import (
    PollBounds,
    Schedule,
    next_poll_delay,
    still_booting_probability,
    wait_seconds,
)
from novita_orchestrator.workflow.state import Notification, PollResult, RunningInstance, StepState, Target

#: A poll reads by GET at least this often: a listing that lags behind (Novita's list view cached,
#: say) delays noticing ``running`` by at most this much, and never makes an operation time out.
CONFIRM_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class PollStatusDeps:
    #: Status reads: the shared snapshot where fresh, else a GET.
    reader: StatusReader
    operations: OperationsStore
    stats: StartupStatsStore
    clock: Clock
    #: POLL_MIN_SECONDS .. POLL_MAX_SECONDS.
    bounds: PollBounds
    #: STARTUP_HISTORY_SIZE: recent startups of the same product that adaptive polling uses.
    history_size: int
    #: POLL_SCHEDULE.
    schedule: Schedule = "adaptive"


def poll_status(state: StepState, deps: PollStatusDeps) -> PollResult:
    """``waiting`` (with the next delay) or ``running``; StartupFailed / StartupTimeout otherwise.

    Once running (read by GET) the result carries the instance's name and port mappings for the
    first health check. ``confirmedAt`` is when Novita last answered this operation itself (a GET,
    or the launch); shared rows are used only while that is under ``CONFIRM_EVERY_SECONDS`` ago."""
    target, reader, clock, operation_id = state.target, deps.reader, deps.clock, state.operation_id
    instance_id = state.instance_id
    previous = state.poll
    polls_so_far = previous.polls if previous else 0
    previous_status = previous.status if previous else None
    launched_at = state.launch.launched_at if state.launch else None
    since_launch = clock.now() - launched_at if launched_at is not None else math.inf
    if polls_so_far == 0 and since_launch < deps.bounds.min_seconds:
        # Novita took the start or create a moment ago: a read now could only say so. The first read
        # comes once the shortest wait has passed since the launch.
        # It does not count for the snapshot yet: only an instance seen still on its way does.
        launching = phases.CREATING if target.kind == "create" else phases.STARTING
        return _logged(
            PollResult(
                outcome="waiting",
                phase=launching,
                delay_seconds=wait_seconds(deps.bounds.min_seconds - since_launch),
                polls=0,
                status=previous_status,
                confirmed_at=_rounded(launched_at),
            )
        )
    # One elapsed time for both judgements, so a status a shared row showed is judged the same twice.
    elapsed = max(0.0, clock.now() - target.started_at)
    confirmed = previous.confirmed_at if previous and previous.confirmed_at is not None else launched_at
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

    subject = Subject(operation_id, instance_id, instance.name or target.instance_name, state.webhook_url)
    counters = {"polls": poll_number}
    phase = verdict.phase
    message: Notification | None = None
    if phase is None:
        deps.operations.record_counters(operation_id, now=now, counters=counters)
        current = deps.operations.get(operation_id)
        phase = current.phase if current is not None else phases.STARTING
    else:
        change, message = change_phase(
            deps.operations,
            subject,
            phase=phase,
            event_type=notifications.PROGRESS,
            change_key=f"poll:{poll_number}",
            now=now,
            counters=counters,
        )
        if phase == phases.RUNNING and change.notify and state.product_id:
            running_at = change.phases.get(phases.RUNNING, iso(now))
            running_epoch = epoch_of_iso(running_at) or now
            deps.stats.record(
                state.product_id,
                operation_id=operation_id,
                running_at=running_at,
                duration_seconds=max(0.0, running_epoch - target.started_at),
                now=now,
            )

    if phase == phases.RUNNING:
        reader.unwatch(operation_id)
        return _logged(
            PollResult(
                outcome="running",
                phase=phase,
                delay_seconds=0,
                polls=poll_number,
                notification=message,
                status=instance.status,
                confirmed_at=_rounded(confirmed),
                # A shared row has no port endpoints: the first health check then reads Novita.
                instance=None if read.shared else RunningInstance.of(instance),
            )
        )
    remaining = target.deadline - now
    if remaining <= 0:
        reader.unwatch(operation_id)
        raise StartupTimeout(
            f"instance {instance_id} is still {instance.status} after {elapsed:.0f} s "
            f"(deadline passed after {poll_number} polls)"
        )
    history = deps.stats.recent(state.product_id, deps.history_size) if state.product_id else []
    delay = wait_seconds(
        next_poll_delay(
            elapsed=elapsed,
            polls_so_far=polls_so_far,
            recent_durations=history,
            bounds=deps.bounds,
            remaining=remaining,
            window=target.deadline - target.started_at,
            schedule=deps.schedule,
        )
    )
    reader.watch(
        operation_id,
        instance_id=instance_id,
        until=target.deadline,
        read_at=now + delay,
        booting=still_booting_probability(elapsed=elapsed, wait=delay, recent_durations=history),
    )
    return _logged(
        PollResult(
            outcome="waiting",
            phase=phase,
            delay_seconds=delay,
            polls=poll_number,
            notification=message,
            status=instance.status,
            confirmed_at=_rounded(confirmed),
        )
    )


def _settles(instance: Instance, seconds_since_launch: float, target: Target) -> bool:
    """Whether this status would end the polling (running, or a failure): then it is read by GET."""
    verdict = phases.judge_status(
        instance, seconds_since_launch=seconds_since_launch, error_at_launch=target.prior_status_error
    )
    return verdict.failure is not None or verdict.phase == phases.RUNNING


def _rounded(epoch: float | None) -> float | None:
    return round(epoch, 3) if epoch is not None else None


def _logged(result: PollResult) -> PollResult:
    logger.info(
        "status polled",
        extra={"phase": result.phase, "outcome": result.outcome, "delay_seconds": result.delay_seconds},
    )
    return result
