"""Poll schedules over spreads of boot times: hundreds of seeded trials on a fake clock, and a few full
engine runs that check the model's counts.

**Model** (``tests/support/polling_model.py``): each trial draws a boot time (request -> ``running``),
an app warm-up (``running`` -> the app answers) and five earlier startups of the same product (the
history adaptive polling learns from) from one spread, then walks the real
``statemachine/start_instance.asl.json`` with the real ``next_poll_delay``, ``next_health_check_delay``
and ``wait_seconds`` on a fake clock. Every schedule sees the same trials. Per spread and schedule:
mean and p90 of status calls (``GET /gpu/instance``) and of the ready delay (app answering -> ready
notification), mean states entered (transitions) and Lambda invocations, and p90 of how long
``running`` went unseen.

**Engine**: the log-normal draws at the median and the 90th percentile of boot time, run by the real
workflow on the local engine against the simulator (simulated time x ``TIME_SCALE``), adaptive with the
draw's history seeded and on a first start; each count beside the model's for that draw, the model
stepping at the pace the engine was measured to keep.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import replace
from typing import Any

from novita_local.simulator import Simulator
from novita_orchestrator.settings import CheckHealthSettings, PollStatusSettings, StartupTimeoutSettings
from novita_orchestrator.workflow.polling import PollBounds
from tests.support.polling_engine import run_on_engine
from tests.support.polling_model import (
    SEED,
    SPREADS,
    TRIALS,
    ModelSettings,
    Policy,
    Startup,
    draw_startups,
    load_definition,
    run_startup,
    summarize,
)

_POLL = PollStatusSettings.model_fields
DEFAULT_BOUNDS = PollBounds(_POLL["POLL_MIN_SECONDS"].default, _POLL["POLL_MAX_SECONDS"].default)
MODEL_SETTINGS = ModelSettings(
    health_interval_seconds=CheckHealthSettings.model_fields["HEALTH_CHECK_INTERVAL_SECONDS"].default,
    timeout_seconds=StartupTimeoutSettings.model_fields["STARTUP_TIMEOUT_SECONDS"].default,
)


def _fixed(seconds: float) -> Policy:
    return Policy(PollBounds(seconds, seconds), use_history=False)


ADAPTIVE = ("adaptive", "adaptive_first_start")
POLICIES: dict[str, Policy] = {
    "adaptive": Policy(DEFAULT_BOUNDS),
    "adaptive_first_start": Policy(DEFAULT_BOUNDS, use_history=False),
    "exponential": Policy(DEFAULT_BOUNDS, schedule="exponential", use_history=False),
    "fixed_5s": _fixed(5),
    "fixed_10s": _fixed(10),
    "fixed_30s": _fixed(30),
}

# Simulated seconds per real second in the engine runs: a step's real overhead (tens of milliseconds)
# stays under a simulated second, and the four runs take about a minute.
TIME_SCALE = 20.0
COUNTED = ("status_calls", "transitions", "lambda_invocations")
COMPARED = (*COUNTED, "ready_delay_s")
#: Engine cases: a draw at this quantile of the log-normal trials' boot times.
ENGINE_DRAWS = {"median_boot": 0.5, "p90_boot": 0.9}
#: Simulated seconds per Lambda step the engine keeps at TIME_SCALE on a loaded 2-core machine.
ENGINE_STEP_SECONDS = (0.4, 0.6, 0.8, 1.0)


def _per_policy(
    definition: dict[str, Any], startups: list[Startup], settings: ModelSettings, names: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    per_policy = {
        name: summarize([run_startup(definition, s, POLICIES[name], settings) for s in startups])
        for name in ("fixed_5s", *names)
    }
    fixed_5s_calls = per_policy["fixed_5s"]["status_calls_mean"]
    for name in ADAPTIVE:
        if name in per_policy:
            ratio = per_policy[name]["status_calls_mean"] / fixed_5s_calls
            per_policy[name]["status_calls_vs_fixed_5s"] = round(ratio, 3)
    return per_policy


def model_figures(definition: dict[str, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for spread, boot in SPREADS.items():
        startups = draw_startups(boot, TRIALS, seed=SEED)
        figures[spread] = _per_policy(definition, startups, MODEL_SETTINGS, tuple(POLICIES))
    return figures


def sensitivity_figures(definition: dict[str, Any]) -> dict[str, Any]:
    """The log-normal figures again with one assumption changed: no app warm-up (an instance without
    ports, or an app that answers at once, hides no polling lag), Lambda steps taking no time or 1 s."""
    startups = draw_startups(SPREADS["lognormal"], TRIALS, seed=SEED)
    variants = {
        "no_warmup": ([replace(s, warmup_seconds=0.0) for s in startups], MODEL_SETTINGS),
        "step_0s": (startups, replace(MODEL_SETTINGS, lambda_seconds=0.0)),
        "step_1s": (startups, replace(MODEL_SETTINGS, lambda_seconds=1.0)),
    }
    figures: dict[str, Any] = {}
    for variant, (trials, settings) in variants.items():
        per_policy = _per_policy(definition, trials, settings, ADAPTIVE)
        figures[variant] = {
            name: {key: per_policy[name][key] for key in ("status_calls_vs_fixed_5s", "ready_delay_p90_s")}
            for name in ADAPTIVE
        }
    return figures


def _engine_draw(definition: dict[str, Any], policy: Policy, quantile: float) -> Startup:
    """The log-normal trial nearest ``quantile`` of boot time (its history too) whose counts stay the
    same at every step time the engine is seen to keep (``ENGINE_STEP_SECONDS``): a poll a tenth of a
    second from the running moment would compare the engine's overhead, not the model. Its app answers
    once running: how many probes a warm-up takes turns on such tenths too (the probe loop's counts are
    checked in tests/workflow, on a case with seconds of margin)."""
    startups = draw_startups(SPREADS["lognormal"], TRIALS, seed=SEED)
    ordered = [replace(s, warmup_seconds=0.0) for s in sorted(startups, key=lambda s: s.boot_seconds)]
    middle = round(quantile * (len(ordered) - 1))

    def counts(startup: Startup, step: float) -> tuple[int, ...]:
        outcome = run_startup(definition, startup, policy, replace(MODEL_SETTINGS, lambda_seconds=step))
        return tuple(getattr(outcome, key) for key in COUNTED)

    for index in sorted(range(len(ordered)), key=lambda i: abs(i - middle)):
        startup = ordered[index]
        if len({counts(startup, step) for step in ENGINE_STEP_SECONDS}) == 1:
            return startup
    raise RuntimeError(f"no trial's counts hold at every step time in {ENGINE_STEP_SECONDS}")


def engine_figures(definition: dict[str, Any]) -> dict[str, Any]:
    from novita_orchestrator.observability import logger

    figures: dict[str, Any] = {}
    level = logger.log_level
    logger.setLevel("WARNING")  # the functions run in this process: keep their INFO lines off the table
    try:
        with Simulator(api_key="bench-" + secrets.token_hex(8), time_scale=TIME_SCALE) as simulator:
            for case, quantile in ENGINE_DRAWS.items():
                for name in ADAPTIVE:
                    policy = POLICIES[name]
                    startup = _engine_draw(definition, policy, quantile)
                    engine = run_on_engine(
                        simulator,
                        startup,
                        definition=definition,
                        time_scale=TIME_SCALE,
                        use_history=policy.use_history,
                    )
                    at_engine_pace = replace(MODEL_SETTINGS, lambda_seconds_by_state=engine.step_seconds)
                    model = run_startup(definition, startup, policy, at_engine_pace)
                    figures.setdefault(case, {})[name] = {
                        "boot_s": startup.boot_seconds,
                        "poll_step_s": round(engine.step_seconds["PollStatus"], 2),
                        **{
                            key: {"model": getattr(model, key), "engine": getattr(engine, key)}
                            for key in COMPARED
                        },
                    }
    finally:
        logger.setLevel(level)
    return figures


def _count_mismatches(engine: dict[str, Any]) -> int:
    return sum(
        1
        for case in engine.values()
        for name in ADAPTIVE
        for key in COUNTED
        if case[name][key]["model"] != case[name][key]["engine"]
    )


def run() -> dict[str, object]:
    definition = load_definition()
    started = time.monotonic()
    figures = model_figures(definition)
    figures["sensitivity"] = sensitivity_figures(definition)
    figures["model_seconds"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    engine = engine_figures(definition)
    engine["count_mismatches"] = _count_mismatches(engine)
    engine["seconds"] = round(time.monotonic() - started, 1)
    figures["engine"] = engine
    figures["trials"] = TRIALS
    return {"polling": figures}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
