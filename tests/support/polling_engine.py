"""One startup of the polling model run for real: the workflow on the local engine against the
simulator, on simulated time, measured the way ``tests/support/polling_model.py`` counts."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from novita_local.engine import LocalEngine
from novita_local.operations import local_engine, run_operation, start_request
from novita_local.simulator import Simulator
from novita_orchestrator.store.startup_stats_store import DynamoStartupStatsStore
from novita_orchestrator.times import iso
from tests.support.polling_model import Startup, is_lambda_task, read_path

PRODUCT = "prod-rtx4090-24g"
INSTANCE_ID = "inst-polling-box"


@dataclass(frozen=True)
class EngineOutcome:
    status_calls: int
    transitions: int
    lambda_invocations: int
    ready_delay_s: float
    #: Per Lambda state, the simulated seconds the execution spent from it to the next Lambda state
    #: beyond the waits it asked for: the model's step times that put its polls where the engine's were.
    step_seconds: dict[str, float]


def run_on_engine(
    simulator: Simulator,
    startup: Startup,
    *,
    definition: Mapping[str, Any],
    time_scale: float,
    use_history: bool,
    environment: Mapping[str, str] | None = None,
    timeout: float = 180.0,
) -> EngineOutcome:
    """Start an exited instance that runs ``startup.boot_seconds`` after the start request and answers
    ``startup.warmup_seconds`` later, with ``startup.history`` as the product's recorded startups."""
    simulator.admin.reset()
    simulator.admin.set_config(time_scale=time_scale)
    timings = {"toStart": 0, "starting": startup.boot_seconds, "appWarmup": startup.warmup_seconds}
    simulator.admin.add_instances(
        [
            {
                "id": INSTANCE_ID,
                "name": "polling-box",
                "status": "exited",
                "productId": PRODUCT,
                "ports": "8000/http",
                "timings": timings,
            }
        ]
    )
    env = {
        "NOVITA_BASE_URL": simulator.base_url,
        "NOVITA_API_KEY": str(simulator.api_key),
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",  # no metric lines among the bench's output
        **(environment or {}),
    }
    with local_engine(env, time_scale=time_scale) as engine:
        if use_history:
            _seed_history(engine, startup.history)
        simulator.admin.clear_journal()
        operation = run_operation(engine, start_request(INSTANCE_ID), timeout=timeout)
        if not operation.ready:
            raise RuntimeError(f"the startup did not end ready: {operation.summary()}")
        history = engine.execution_history(operation.execution_arn)
        invocations = len(engine.invocations())
    [start] = simulator.admin.journal(path="/gpu/instance/start", method="POST")
    # Real time -> simulated time, anchored on the start request (both clocks seen by the simulator).
    notified_sim = start["simTime"] + (_entered_at(history, "NotifyCompleted") - start["time"]) * time_scale
    healthy_sim = start["simTime"] + startup.boot_seconds + startup.warmup_seconds
    return EngineOutcome(
        status_calls=len(simulator.admin.journal(path="/gpu/instance", method="GET")),
        transitions=sum(1 for event in history if event["type"].endswith("StateEntered")),
        lambda_invocations=invocations,
        ready_delay_s=round(notified_sim - healthy_sim, 2),
        step_seconds=_step_seconds(definition, history, time_scale),
    )


def _seed_history(engine: LocalEngine, durations: tuple[float, ...]) -> None:
    stats = DynamoStartupStatsStore(engine.boto_client("dynamodb"), engine.resource_name("OperationsTable"))
    now = time.time()
    for age, duration in enumerate(durations):
        stats.record(
            PRODUCT,
            operation_id=f"op-history-{age}",
            running_at=iso(now - 3600 * (age + 1)),
            duration_seconds=duration,
            now=now,
        )


def _seconds(event: Mapping[str, Any]) -> float:
    stamp = event["timestamp"]
    return stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)


def _entered_at(history: list[dict[str, Any]], state_name: str) -> float:
    for event in history:
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") == state_name:
            return _seconds(event)
    raise RuntimeError(f"the execution never entered {state_name}")


def _step_seconds(
    definition: Mapping[str, Any], history: list[dict[str, Any]], time_scale: float
) -> dict[str, float]:
    """Per Lambda state, the mean simulated seconds from entering it to entering the next Lambda state
    (or the end), less the waits asked for in between."""
    states = definition["States"]
    spans: dict[str, list[float]] = {}
    current: str | None = None
    since, asked = 0.0, 0.0

    def close(at: float) -> None:
        if current is not None:
            spans.setdefault(current, []).append(max(0.0, (at - since) * time_scale - asked))

    for event in history:
        details = event.get("stateEnteredEventDetails") or {}
        state = states.get(details.get("name", ""), {})
        if event["type"] == "WaitStateEntered":
            seconds = state.get("Seconds")
            if seconds is None:
                seconds = read_path(json.loads(details["input"]), state["SecondsPath"])
            asked += float(seconds)
        elif event["type"] == "TaskStateEntered" and is_lambda_task(state):
            close(_seconds(event))
            current, since, asked = details["name"], _seconds(event), 0.0
    close(_seconds(history[-1]))
    return {name: sum(values) / len(values) for name, values in spans.items()}
