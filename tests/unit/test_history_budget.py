"""No execution can outgrow Step Functions' history (25,000 events): past it AWS fails the execution
outright, with no Catch, no failure notification, and the instance's lock held.

The events each state writes are counted as AWS writes them; the loops are found in every state
machine's definition, so a loop added later is checked too, and the longest startup the settings
allow is walked through the real definition (tests/support/polling_model.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from novita_orchestrator.settings import CheckHealthSettings, PollStatusSettings, StartupTimeoutSettings
from novita_orchestrator.workflow.polling import (
    EVENTS_PER_ROUND,
    HISTORY_EVENT_LIMIT,
    HISTORY_EVENTS_RESERVED,
    PollBounds,
)
from tests.support.polling_model import (
    ModelSettings,
    Policy,
    Startup,
    is_lambda_task,
    load_definition,
    run_startup,
)

STATE_MACHINES = sorted((Path(__file__).resolve().parents[2] / "statemachine").glob("*.asl.json"))
#: What one retried attempt adds: the failure, then the task scheduled and started again.
EVENTS_PER_RETRY = 3


def events_of(state: Mapping[str, Any]) -> int:
    """History events of one pass through ``state``, without retries."""
    kind = state["Type"]
    if kind == "Task":
        # Entered, scheduled, started, (submitted: service integrations), succeeded, exited.
        return 5 if is_lambda_task(state) else 6
    if kind in {"Succeed", "Fail"}:
        return 2  # entered (and exited), then the execution's end
    return 2  # entered, exited


def retry_events_of(state: Mapping[str, Any]) -> int:
    """The most events a state's retriers can add (every retrier used up)."""
    return sum(EVENTS_PER_RETRY * int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))


def successors(state: Mapping[str, Any]) -> list[str]:
    following = [state.get("Next"), state.get("Default")]
    following += [rule.get("Next") for rule in state.get("Choices", [])]
    following += [catch.get("Next") for catch in state.get("Catch", [])]
    return [name for name in following if name]


def simple_cycles(states: Mapping[str, Any]) -> Iterator[list[str]]:
    """Every loop of the state graph once, starting at its smallest state name."""
    for start in sorted(states):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            name, path = stack.pop()
            for following in successors(states[name]):
                if following == start:
                    yield path
                elif following > start and following not in path:
                    stack.append((following, [*path, following]))


def longest_path_events(definition: Mapping[str, Any]) -> int:
    """The events of the costliest way through the definition passing each state at most once (so each
    loop once), every retrier used up: what an execution writes besides its extra rounds."""
    states: Mapping[str, Any] = definition["States"]
    best: dict[str, int] = {}

    def walk(name: str, on_path: frozenset[str]) -> int:
        if name in best:
            return best[name]
        state = states[name]
        cost = events_of(state) + retry_events_of(state)
        onward = [walk(n, on_path | {name}) for n in successors(state) if n not in on_path and n != name]
        total = cost + max(onward, default=0)
        best[name] = total
        return total

    return 1 + walk(definition["StartAt"], frozenset())  # + ExecutionStarted


def _bound(model: type[Any], field: str, kind: str) -> float:
    for constraint in model.model_fields[field].metadata:
        if hasattr(constraint, kind):
            return float(getattr(constraint, kind))
    raise AssertionError(f"{model.__name__}.{field} has no {kind} bound")


@pytest.mark.parametrize("path", STATE_MACHINES, ids=lambda p: p.name)
def test_every_loop_writes_at_most_the_events_per_round_the_waits_assume(path: Path) -> None:
    states = load_definition(path)["States"]
    for cycle in simple_cycles(states):
        events = sum(events_of(states[name]) for name in cycle)
        loop = " -> ".join(cycle)
        assert events <= EVENTS_PER_ROUND, f"{path.name}: the loop {loop} writes {events} events"
        # Its wait is one a step chose (SecondsPath), so the shortest round applies to it.
        waits = [states[n] for n in cycle if states[n]["Type"] == "Wait"]
        assert any("SecondsPath" in w for w in waits), (
            f"{path.name}: the loop {loop} has no Wait whose seconds a step chose"
        )


@pytest.mark.parametrize("path", STATE_MACHINES, ids=lambda p: p.name)
def test_everything_but_the_extra_rounds_fits_in_half_the_reserve(path: Path) -> None:
    assert longest_path_events(load_definition(path)) <= HISTORY_EVENTS_RESERVED / 2


def test_the_longest_allowed_startup_stays_within_the_history() -> None:
    # The largest STARTUP_TIMEOUT_SECONDS with the shortest poll and health waits the settings allow;
    # the instance runs half-way and its app answers just before the deadline: every round is used.
    timeout = _bound(StartupTimeoutSettings, "STARTUP_TIMEOUT_SECONDS", "le")
    shortest_poll = _bound(PollStatusSettings, "POLL_MIN_SECONDS", "ge")
    shortest_interval = _bound(CheckHealthSettings, "HEALTH_CHECK_INTERVAL_SECONDS", "ge")
    definition = load_definition()
    outcome = run_startup(
        definition,
        Startup(boot_seconds=timeout / 2, warmup_seconds=timeout / 2 - 200),
        Policy(PollBounds(shortest_poll, shortest_poll), schedule="exponential", use_history=False),
        ModelSettings(health_interval_seconds=shortest_interval, timeout_seconds=timeout),
    )
    states = definition["States"]
    events = 1 + sum(events_of(states[name]) for name in outcome.states)
    assert outcome.polls + outcome.health_checks > 500  # the loops did run, many times
    # What the walk wrote, with the reserve for retries and notifications, is within the limit.
    assert events + HISTORY_EVENTS_RESERVED / 2 <= HISTORY_EVENT_LIMIT, (
        f"{events} events in a {timeout:.0f} s startup: {outcome.polls} polls, {outcome.health_checks} checks"
    )


def test_a_default_startup_keeps_its_short_waits() -> None:
    # The floor only lengthens the waits of long operations: 1800 s keeps a 2 s health interval.
    outcome = run_startup(
        load_definition(),
        Startup(boot_seconds=60, warmup_seconds=30),
        Policy(PollBounds(5, 60)),
        ModelSettings(health_interval_seconds=2, timeout_seconds=1800),
    )
    assert outcome.ready_delay_s <= 2 + 1
