"""PollStopped (the stop workflow): read the instance by GET until a stop has reached ``exited`` or a
delete has made it ``removed`` (or gone: Novita may stop listing a removed instance), waiting a
little longer each time; the operation's deadline fails it with StopTimeout."""

from __future__ import annotations

from dataclasses import dataclass

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NotFound
from novita_orchestrator.observability import logger
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow.errors import InstanceRemoved, StopTimeout, novita_errors_translated
from novita_orchestrator.workflow.polling import PollBounds, wait_seconds
from novita_orchestrator.workflow.state import SettlePollResult, StopState


@dataclass(frozen=True)
class PollStoppedDeps:
    novita: NovitaClient
    operations: OperationsStore
    clock: Clock
    #: POLL_MIN_SECONDS .. POLL_MAX_SECONDS: the first wait, doubled up to the longest.
    bounds: PollBounds


def poll_stopped(state: StopState, deps: PollStoppedDeps) -> SettlePollResult:
    """``done`` or ``waiting`` (with the next delay); StopTimeout past the deadline."""
    target, instance_id = state.target, state.instance_id
    polls = (state.poll.polls if state.poll is not None else 0) + 1
    with novita_errors_translated():
        try:
            status: str | None = deps.novita.get_instance(instance_id).status
        except NotFound:
            status = None
    deleting = target.kind == "delete"
    if deleting:
        done = status is None or status == "removed"
    else:
        if status is None or status in {"toRemove", "removing", "removed"}:
            raise InstanceRemoved(f"Novita instance {instance_id} was deleted while it was being stopped")
        done = status == "exited"
    now = deps.clock.now()
    deps.operations.record_counters(state.operation_id, now=now, counters={"polls": polls})
    if done:
        logger.info("instance settled", extra={"instance_id": instance_id, "status": status, "polls": polls})
        return SettlePollResult(outcome="done", delay_seconds=0, polls=polls, status=status)
    if now >= target.deadline:
        what = "gone" if deleting else "exited"
        raise StopTimeout(
            f"Novita instance {instance_id} is still {status} and not {what} after {polls} polls "
            f"(the {target.kind} timed out)"
        )
    delay = deps.bounds.clamp(deps.bounds.min_seconds * 2 ** (polls - 1))
    delay = min(delay, max(1.0, target.deadline - now))
    return SettlePollResult(outcome="waiting", delay_seconds=wait_seconds(delay), polls=polls, status=status)
