"""The polling model (``tests/support/polling_model.py``) counts what the real workflow does: the same
startup, run on the local engine against the simulator, costs the same status calls, states and Lambda
invocations. ``make bench`` makes the same comparison for draws from the log-normal spread."""

from __future__ import annotations

import pytest

from novita_local.simulator import Simulator
from novita_orchestrator.workflow.polling import PollBounds
from tests.support.polling_engine import run_on_engine
from tests.support.polling_model import ModelSettings, Policy, Startup, load_definition, run_startup

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(120)]

# Slow enough that a step's real overhead stays well under a simulated second, even with every core
# busy (at 20, a loaded machine's second-long step moved a poll across the boot now and then).
TIME_SCALE = 5.0


def test_the_model_counts_what_the_engine_does(simulator: Simulator) -> None:
    # Polls every 10 s and probes every 10 s: the instance runs about 25 s after the launch and its app
    # answers 24 s later, each moment seconds away from the poll or probe before and after it, so the
    # engine's step overhead (0.3-1 simulated second) cannot move it to another poll or probe.
    startup = Startup(boot_seconds=25.0, warmup_seconds=24.0)
    definition = load_definition()
    engine = run_on_engine(
        simulator,
        startup,
        definition=definition,
        time_scale=TIME_SCALE,
        use_history=False,
        environment={
            "POLL_MIN_SECONDS": "10",
            "POLL_MAX_SECONDS": "10",
            "HEALTH_CHECK_INTERVAL_SECONDS": "10",
        },
    )
    policy = Policy(PollBounds(10, 10), use_history=False)
    at_engine_pace = ModelSettings(health_interval_seconds=10, lambda_seconds_by_state=engine.step_seconds)
    model = run_startup(definition, startup, policy, at_engine_pace)
    counted = ("status_calls", "transitions", "lambda_invocations")
    assert {k: getattr(engine, k) for k in counted} == {k: getattr(model, k) for k in counted}
    # The scenario itself, on the model's own clock (no engine pace, so machine load cannot move it):
    # no read at the launch, polls about 11, 22 and 33 s after it; probes at about 33, 44 and 54 s.
    ideal = run_startup(definition, startup, policy, ModelSettings(health_interval_seconds=10))
    assert (ideal.polls, ideal.health_checks) == (3, 3)
