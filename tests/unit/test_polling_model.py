"""The poll schedule over spreads of boot times, on the fake-clock model of the real state machine
(``tests/support/polling_model.py``; ``make bench`` reports the same figures, and checks the model's
counts against full engine runs)."""

from __future__ import annotations

import copy
from functools import cache

import pytest

from novita_orchestrator.workflow.polling import PollBounds
from tests.support.polling_model import (
    SEED,
    SPREADS,
    TRIALS,
    ModelError,
    Policy,
    Startup,
    draw_startups,
    load_definition,
    run_startup,
    summarize,
)

ADAPTIVE = Policy(PollBounds(5, 60))
FIRST_START = Policy(PollBounds(5, 60), use_history=False)
FIXED_5S = Policy(PollBounds(5, 5), use_history=False)
POLL_LOOP = ["WaitBeforePoll", "PollStatus", "ChooseProgressNotification", "ChoosePollOutcome"]


@cache
def lognormal_figures(policy: Policy) -> dict[str, float]:
    startups = draw_startups(SPREADS["lognormal"], TRIALS, seed=SEED)
    return summarize([run_startup(load_definition(), s, policy) for s in startups])


def test_with_history_the_p90_ready_delay_is_under_5_s_at_half_the_calls_of_a_fixed_5_s_poll() -> None:
    adaptive, fixed = lognormal_figures(ADAPTIVE), lognormal_figures(FIXED_5S)
    assert adaptive["ready_delay_p90_s"] <= 5
    assert adaptive["status_calls_mean"] <= fixed["status_calls_mean"] / 2


def test_a_first_start_has_a_p90_ready_delay_under_8_s_at_two_thirds_of_the_calls() -> None:
    first, fixed = lognormal_figures(FIRST_START), lognormal_figures(FIXED_5S)
    assert first["ready_delay_p90_s"] <= 8
    assert first["status_calls_mean"] <= fixed["status_calls_mean"] * 2 / 3


def test_each_extra_poll_costs_one_status_call_and_one_pass_through_the_poll_loop() -> None:
    definition = load_definition()
    policy = Policy(PollBounds(10, 10), use_history=False)
    short = run_startup(definition, Startup(boot_seconds=25, warmup_seconds=1), policy)
    longer = run_startup(definition, Startup(boot_seconds=35, warmup_seconds=1), policy)
    assert longer.polls == short.polls + 1
    assert longer.status_calls == short.status_calls + 1
    assert longer.lambda_invocations == short.lambda_invocations + 1
    assert longer.transitions - short.transitions == len(POLL_LOOP)
    # ResolveTarget's lookup and the polls that read (the first health check probes the endpoints the
    # last poll's GET carried; the poll right after the launch reads nothing and is not counted).
    assert short.status_calls == 1 + short.polls
    assert short.states[-2:] == ["PublishReadyEvent", "Ready"]


def test_an_app_that_answers_late_is_probed_until_healthy_and_the_delay_is_measured_from_then() -> None:
    definition = load_definition()
    policy = Policy(PollBounds(10, 10), use_history=False)
    outcome = run_startup(definition, Startup(boot_seconds=25, warmup_seconds=20), policy)
    assert outcome.health_checks >= 4
    assert 0 <= outcome.ready_delay_s <= 2 + 2 * 0.5  # one probe interval, and the last two steps


@pytest.mark.parametrize("change", [{"Type": "Parallel"}, {"OutputPath": "$.poll"}])
def test_a_state_the_model_does_not_know_fails_loudly(change: dict[str, str]) -> None:
    definition = copy.deepcopy(load_definition())
    definition["States"]["PollStatus"].update(change)
    with pytest.raises(ModelError, match="PollStatus"):
        run_startup(definition, Startup(boot_seconds=25, warmup_seconds=1), ADAPTIVE)
