"""One startup on a fake clock: the real ``statemachine/start_instance.asl.json`` walked state by state,
its Lambda steps replaced by models that make the real decisions (``next_poll_delay``,
``next_health_check_delay``, ``wait_seconds``) and count what the real steps would cost.

The model of the world: the instance runs ``boot_seconds`` after the start request reaches Novita and
its app answers ``warmup_seconds`` later; each Lambda step takes ``lambda_seconds`` (a warm function
making one Novita call and a DynamoDB write or two), its decisions made as it begins; other states take
no time; nothing fails. What it counts per startup:
``GET /gpu/instance`` requests (ResolveTarget's lookup by ID and one per PollStatus that reads: the
first one, right after the launch, only waits; CheckHealth probes the endpoints the last poll's GET
carried), states entered (what Step Functions bills as transitions), Lambda
invocations, and the ready delay (app healthy -> the ready notification is sent).

Choice states are evaluated on the step results, so the counts follow the state machine as it is;
a state or a Choice operator the model does not know fails loudly instead of being guessed.
"""

from __future__ import annotations

import copy
import json
import math
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from novita_orchestrator.workflow.polling import (
    PollBounds,
    Schedule,
    next_health_check_delay,
    next_poll_delay,
    wait_seconds,
)

STATE_MACHINE = Path(__file__).resolve().parents[2] / "statemachine" / "start_instance.asl.json"
#: Fields that would change what a later state reads; the model passes data as ResultPath alone does.
_UNMODELLED_FIELDS = frozenset({"InputPath", "OutputPath", "ResultSelector", "Assign", "Output", "Arguments"})
#: Service-integration tasks (SQS, EventBridge): entered, but not Lambda invocations.
_SERVICE_RESOURCE_PREFIX = "arn:aws:states:::"


def is_lambda_task(state: Mapping[str, Any]) -> bool:
    return state.get("Type") == "Task" and not str(state["Resource"]).startswith(_SERVICE_RESOURCE_PREFIX)


@dataclass(frozen=True)
class Startup:
    boot_seconds: float
    warmup_seconds: float
    #: Earlier startups of the same product (seconds to ``running``), newest first.
    history: tuple[float, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A poll schedule as the service would be configured for it."""

    bounds: PollBounds
    schedule: Schedule = "adaptive"
    use_history: bool = True


@dataclass(frozen=True)
class ModelSettings:
    health_interval_seconds: float = 2.0
    timeout_seconds: float = 1800.0
    lambda_seconds: float = 0.5
    #: Step times of particular Lambda states (by state name), where they differ from the above.
    lambda_seconds_by_state: Mapping[str, float] = field(default_factory=dict)

    def step_seconds(self, state_name: str) -> float:
        return self.lambda_seconds_by_state.get(state_name, self.lambda_seconds)


@dataclass
class Outcome:
    status_calls: int = 0
    transitions: int = 0
    lambda_invocations: int = 0
    polls: int = 0
    health_checks: int = 0
    #: Seconds from ``running`` to the poll that saw it.
    running_seen_after_s: float = 0.0
    #: Seconds from the app answering to the ready notification.
    ready_delay_s: float = 0.0
    states: list[str] = field(default_factory=list)


class ModelError(Exception):
    """The state machine asked for something the model does not know, or the startup did not end ready."""


def load_definition(path: Path = STATE_MACHINE) -> dict[str, Any]:
    # ${Substitutions} only appear inside strings (Resource, QueueUrl): the file parses as it is.
    definition: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return definition


def run_startup(
    definition: Mapping[str, Any], startup: Startup, policy: Policy, settings: ModelSettings = ModelSettings()
) -> Outcome:
    """Walk the state machine from ``StartAt`` to its end for one start of an exited instance."""
    world = _World(startup, policy, settings)
    states: Mapping[str, Any] = definition["States"]
    data: dict[str, Any] = {"start": {"ref": "inst-model"}}
    name: str | None = definition["StartAt"]
    while name is not None:
        state = states[name]
        unmodelled = _UNMODELLED_FIELDS.intersection(state)
        if unmodelled:
            raise ModelError(f"state {name}: {', '.join(sorted(unmodelled))} not modelled")
        world.outcome.transitions += 1
        world.outcome.states.append(name)
        kind = state["Type"]
        if kind == "Task":
            result = world.task(name, state, data)
            _put(data, state.get("ResultPath", "$"), result)
            if is_lambda_task(state):
                world.now += settings.step_seconds(name)
        elif kind == "Pass":
            result = copy.deepcopy(state["Result"]) if "Result" in state else read_path(data, "$")
            _put(data, state.get("ResultPath", "$"), result)
        elif kind == "Wait":
            world.now += float(
                state["Seconds"] if "Seconds" in state else read_path(data, state["SecondsPath"])
            )
        elif kind == "Choice":
            name = next(
                (rule["Next"] for rule in state["Choices"] if _holds(rule, data)), state.get("Default")
            )
            if name is None:
                raise ModelError("a Choice matched no rule and has no Default")
            continue
        elif kind in {"Succeed", "Fail"}:
            break
        else:
            raise ModelError(f"state {name}: type {kind} is not modelled")
        name = None if state.get("End") else state.get("Next")
    if world.notified_ready_at is None:
        raise ModelError(f"the startup did not end ready: {world.outcome.states[-3:]}")
    healthy_at = world.running_at + startup.warmup_seconds
    world.outcome.ready_delay_s = round(world.notified_ready_at - healthy_at, 3)
    return world.outcome


class _World:
    def __init__(self, startup: Startup, policy: Policy, settings: ModelSettings) -> None:
        self.startup, self.policy, self.settings = startup, policy, settings
        self.now = 0.0  # seconds since the operation's start (ResolveTarget)
        #: When the instance runs: ``boot_seconds`` after the launch.
        self.running_at = math.inf
        #: When LaunchInstance took the start.
        self.launched_at = 0.0
        self.outcome = Outcome()
        self.notified_ready_at: float | None = None
        self._steps: dict[str, Callable[[dict[str, Any]], Any]] = {
            "ResolveTarget": self._resolve_target,
            "LaunchInstance": self._launch_instance,
            "PollStatus": self._poll_status,
            "CheckHealth": self._check_health,
            "FinishReady": self._finish_ready,
        }

    def task(self, name: str, state: Mapping[str, Any], data: dict[str, Any]) -> Any:
        if not is_lambda_task(state):
            if name == "NotifyCompleted":
                self.notified_ready_at = self.now
            return None
        step = self._steps.get(name)
        if step is None:
            raise ModelError(f"Lambda task {name} is not modelled")
        self.outcome.lambda_invocations += 1
        return step(data)

    @property
    def _remaining(self) -> float:
        return self.settings.timeout_seconds - self.now

    def _resolve_target(self, data: dict[str, Any]) -> dict[str, Any]:
        self.outcome.status_calls += 1  # GET by ID
        return {"kind": "start", "instanceId": "inst-model", "alreadyRunning": False}

    def _launch_instance(self, data: dict[str, Any]) -> dict[str, Any]:
        self.running_at = self.now + self.startup.boot_seconds
        self.launched_at = self.now
        return {"instanceId": "inst-model", "notification": {"type": "instance.startup.initiated"}}

    def _poll_status(self, data: dict[str, Any]) -> dict[str, Any]:
        since_launch = self.now - self.launched_at
        if self.outcome.polls == 0 and since_launch < self.policy.bounds.min_seconds:
            # Right after the launch PollStatus reads nothing: it waits out the shortest wait.
            first_wait = wait_seconds(self.policy.bounds.min_seconds - since_launch)
            return {"outcome": "waiting", "delaySeconds": first_wait, "polls": 0, "notification": None}
        self.outcome.status_calls += 1
        self.outcome.polls += 1
        polls = self.outcome.polls
        if self.now >= self.running_at:
            self.outcome.running_seen_after_s = round(self.now - self.running_at, 3)
            # starting -> running is a phase change: one progress notification.
            notification = {"type": "instance.startup.progress", "phase": "running"}
            return {"outcome": "running", "delaySeconds": 0, "polls": polls, "notification": notification}
        if self._remaining <= 0:
            raise ModelError("the startup passed its deadline")
        delay = next_poll_delay(
            elapsed=self.now,
            polls_so_far=polls - 1,
            recent_durations=self.startup.history if self.policy.use_history else (),
            bounds=self.policy.bounds,
            remaining=self._remaining,
            window=self.settings.timeout_seconds,
            schedule=self.policy.schedule,
        )
        # Still starting, as at the launch: no phase change, no notification.
        return {
            "outcome": "waiting",
            "delaySeconds": wait_seconds(delay),
            "polls": polls,
            "notification": None,
        }

    def _check_health(self, data: dict[str, Any]) -> dict[str, Any]:
        self.outcome.health_checks += 1
        first = self.outcome.health_checks == 1
        # No GET of its own: the poll that saw running read it by GET and carries its endpoints.
        notification = {"type": "instance.startup.health_check.started"} if first else None
        if self.now >= self.running_at + self.startup.warmup_seconds:
            return {"outcome": "healthy", "delaySeconds": 0, "notification": notification}
        if self._remaining <= 0:
            raise ModelError("the app was not healthy by the deadline")
        delay = next_health_check_delay(
            interval=self.settings.health_interval_seconds,
            remaining=self._remaining,
            window=self.settings.timeout_seconds,
        )
        return {"outcome": "waiting", "delaySeconds": wait_seconds(delay), "notification": notification}

    def _finish_ready(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"notification": {"type": "instance.startup.completed"}, "event": {}}


# --- A small JSONPath and Choice-rule evaluator: what the state machine uses, nothing more ---------

_MISSING = object()


def _parts(path: str) -> list[str]:
    if path == "$":
        return []
    if not path.startswith("$.") or any(c in path for c in "[]*"):
        raise ModelError(f"path {path!r} is not modelled")
    return path[2:].split(".")


def read_path(data: Any, path: str) -> Any:
    """The value at a ``$.a.b`` path, or ``_MISSING``."""
    value = data
    for part in _parts(path):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _put(data: dict[str, Any], path: str | None, value: Any) -> None:
    if path is None:
        return  # ResultPath null: the input passes through
    parts = _parts(path)
    if not parts:
        raise ModelError("a ResultPath of $ is not modelled")
    target = data
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _holds(rule: Mapping[str, Any], data: Any) -> bool:
    if "And" in rule:
        return all(_holds(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(_holds(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not _holds(rule["Not"], data)
    value = read_path(data, rule["Variable"])
    operators = [k for k in rule if k not in {"Variable", "Next"}]
    if len(operators) != 1:
        raise ModelError(f"Choice rule {rule} is not modelled")
    operator = operators[0]
    expected = rule[operator]
    if operator == "IsPresent":
        return (value is not _MISSING) is bool(expected)
    if value is _MISSING:
        raise ModelError(f"Choice reads {rule['Variable']}, which is not there (AWS fails the execution)")
    checks: dict[str, Callable[[], bool]] = {
        "IsNull": lambda: (value is None) == expected,
        "IsNumeric": lambda: (isinstance(value, int | float) and not isinstance(value, bool)) == expected,
        "StringEquals": lambda: value == expected,
        "BooleanEquals": lambda: value is expected,
        "NumericEquals": lambda: value == expected,
    }
    if operator not in checks:
        raise ModelError(f"Choice operator {operator} is not modelled")
    return checks[operator]()


# --- Boot-time spreads, and figures over many trials -----------------------------------------------


def lognormal_boot(rng: random.Random) -> float:
    """Around two minutes (median 120 s), sigma 0.5: 90 % within 53-272 s, one in a thousand past 9 min."""
    return rng.lognormvariate(math.log(120), 0.5)


def bimodal_boot(rng: random.Random) -> float:
    """Two kinds of start: the image cached on the node (65 %, median 45 s) or pulled (35 %, median 4 min)."""
    if rng.random() < 0.65:
        return rng.lognormvariate(math.log(45), 0.25)
    return rng.lognormvariate(math.log(240), 0.35)


def slow_boot(rng: random.Random) -> float:
    """A large image pulled on every start: median 6 min, sigma 0.25 (90 % within 4-9 min)."""
    return rng.lognormvariate(math.log(360), 0.25)


def app_warmup(rng: random.Random) -> float:
    """From ``running`` to the app answering: a notebook in a few seconds, a model server after loading
    its weights in tens of seconds. Median 10 s, 90 % within 3-32 s, at most two minutes."""
    return min(120.0, max(1.0, rng.lognormvariate(math.log(10), 0.7)))


SPREADS: dict[str, Callable[[random.Random], float]] = {
    "lognormal": lognormal_boot,
    "bimodal": bimodal_boot,
    "slow": slow_boot,
}
#: A recorded startup duration is when a poll saw ``running``: up to one dense poll gap late.
HISTORY_LAG_SECONDS = 10.0
#: What ``make bench`` and the tests draw: enough trials that a p90 moves by tenths of a second.
TRIALS = 1000
SEED = 14


def draw_startups(
    boot: Callable[[random.Random], float], trials: int, *, seed: int, history_size: int = 5
) -> list[Startup]:
    """Seeded trials, each with ``history_size`` earlier startups of the same spread as recorded."""
    rng = random.Random(seed)
    startups = []
    for _ in range(trials):
        duration, warmup = boot(rng), app_warmup(rng)
        history = tuple(boot(rng) + rng.uniform(0, HISTORY_LAG_SECONDS) for _ in range(history_size))
        startups.append(Startup(round(duration, 3), round(warmup, 3), tuple(round(h, 3) for h in history)))
    return startups


def p90(values: Sequence[float]) -> float:
    """The nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def summarize(outcomes: Sequence[Outcome]) -> dict[str, float]:
    calls = [o.status_calls for o in outcomes]
    delays = [o.ready_delay_s for o in outcomes]
    return {
        "status_calls_mean": round(statistics.fmean(calls), 2),
        "status_calls_p90": p90(calls),
        "ready_delay_mean_s": round(statistics.fmean(delays), 2),
        "ready_delay_p90_s": round(p90(delays), 2),
        "transitions_mean": round(statistics.fmean(o.transitions for o in outcomes), 2),
        "lambda_invocations_mean": round(statistics.fmean(o.lambda_invocations for o in outcomes), 2),
        "running_seen_after_p90_s": round(p90([o.running_seen_after_s for o in outcomes]), 2),
    }
