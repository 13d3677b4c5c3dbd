"""Adaptive polling against fixed schedules, on one simulated 180-second boot with a 20-second app warm-up.

Three runs of the real workflow on the local engine against the simulator, on simulated time:

* ``adaptive``: the default bounds (POLL_MIN_SECONDS..POLL_MAX_SECONDS) and a history of five earlier
  startups of the same product (170-190 s) in the stats store;
* ``fixed_30s`` / ``fixed_5s``: POLL_MIN_SECONDS = POLL_MAX_SECONDS = 30 (resp. 5), no history.

For each: ``status_calls`` (GET /gpu/instance requests Novita received), ``transitions`` (states
entered by the execution) and ``ready_delay_s`` (simulated seconds from the app turning healthy,
i.e. running + warm-up, to the ready notification being sent).
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

from novita_local.engine import LocalEngine
from novita_local.operations import local_engine, run_operation, start_request
from novita_local.simulator import Simulator
from novita_orchestrator.store.startup_stats_store import DynamoStartupStatsStore
from novita_orchestrator.times import iso

# Simulated seconds per real second: each run's ~200 simulated seconds take ~10 real ones, while a
# step's real overhead (tens of milliseconds) stays well under a simulated second. A larger scale runs
# faster but inflates ready_delay_s with that overhead (x40 adds about 4 simulated seconds).
TIME_SCALE = 20.0
BOOT_SECONDS = 180.0
WARMUP_SECONDS = 20.0
PRODUCT = "prod-rtx4090-24g"
INSTANCE_ID = "inst-bench-box"
HISTORY_SECONDS = (170.0, 175.0, 180.0, 185.0, 190.0)
RUN_TIMEOUT = 120.0

BENCH_INSTANCE = {
    "id": INSTANCE_ID,
    "name": "bench-box",
    "status": "exited",
    "productId": PRODUCT,
    "ports": "8000/http",
    "timings": {"toStart": 0, "starting": BOOT_SECONDS, "appWarmup": WARMUP_SECONDS},
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "adaptive": {"environment": {}, "history": HISTORY_SECONDS},
    "fixed_30s": {"environment": {"POLL_MIN_SECONDS": "30", "POLL_MAX_SECONDS": "30"}, "history": ()},
    "fixed_5s": {"environment": {"POLL_MIN_SECONDS": "5", "POLL_MAX_SECONDS": "5"}, "history": ()},
}


def _seed_history(engine: LocalEngine, durations: tuple[float, ...]) -> None:
    stats = DynamoStartupStatsStore(engine.boto_client("dynamodb"), engine.resource_name("OperationsTable"))
    now = time.time()
    for age, duration in enumerate(durations):
        when = now - 3600 * (age + 1)
        stats.record(
            PRODUCT,
            operation_id=f"op-history-{age}",
            running_at=iso(when),
            duration_seconds=duration,
            now=now,
        )


def _history_event_time(engine: LocalEngine, execution_arn: str, state_name: str) -> float:
    for event in engine.execution_history(execution_arn):
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") == state_name:
            stamp = event["timestamp"]
            return stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)
    raise RuntimeError(f"the execution never entered {state_name}")


def run_scenario(
    simulator: Simulator, environment: dict[str, str], history: tuple[float, ...]
) -> dict[str, Any]:
    simulator.admin.reset()
    simulator.admin.set_config(time_scale=TIME_SCALE)
    simulator.admin.add_instances([BENCH_INSTANCE])
    env = {
        "NOVITA_BASE_URL": simulator.base_url,
        "NOVITA_API_KEY": str(simulator.api_key),
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",
        **environment,
    }
    with local_engine(env, time_scale=TIME_SCALE) as engine:
        if history:
            _seed_history(engine, history)
        simulator.admin.clear_journal()
        operation = run_operation(engine, start_request(INSTANCE_ID), timeout=RUN_TIMEOUT)
        if not operation.ready:
            raise RuntimeError(f"the benchmark startup did not end ready: {operation.summary()}")
        history_events = engine.execution_history(operation.execution_arn)
        notified_at = _history_event_time(engine, operation.execution_arn, "NotifyCompleted")
    [start] = simulator.admin.journal(path="/gpu/instance/start", method="POST")
    # Real time -> simulated time, anchored on the start request (both clocks seen by the simulator).
    notified_sim = start["simTime"] + (notified_at - start["time"]) * TIME_SCALE
    healthy_sim = start["simTime"] + BOOT_SECONDS + WARMUP_SECONDS
    return {
        "status_calls": len(simulator.admin.journal(path="/gpu/instance", method="GET")),
        "transitions": sum(1 for event in history_events if event["type"].endswith("StateEntered")),
        "ready_delay_s": round(notified_sim - healthy_sim, 2),
    }


def run() -> dict[str, object]:
    from novita_orchestrator.observability import logger

    results: dict[str, Any] = {}
    level = logger.log_level
    logger.setLevel("WARNING")  # the functions run in this process: keep their INFO lines off the table
    try:
        with Simulator(api_key="bench-" + secrets.token_hex(8), time_scale=TIME_SCALE) as simulator:
            for name, scenario in SCENARIOS.items():
                results[name] = run_scenario(simulator, scenario["environment"], scenario["history"])
    finally:
        logger.setLevel(level)
    return {"polling": results}
