"""Load: 200 operations started at once through the local REST API against the simulator holding a
global limit of 10 Novita requests/s, the service's shared limiter at 10/s (burst 1) under it, in two
boot settings: one second (the orchestration alone) and realistic (30-120 s).

``load.<boots>.*`` for ``boots`` in ``1s`` and ``realistic``:

* ``requests_per_operation``: Novita requests (the simulator's journal) / operations.
* ``operations_per_minute``: operations ended per minute of the run, first API request to last end.
* ``novita_429s``: 429 answers the simulator gave (0: the shared limiter kept under its limit).
* ``peak_requests_per_second``, ``novita_by_endpoint``, ``ready``, ``failed``, ``elapsed_s``: context.

``load.unthrottled.*``: 100 operations with one-second boots and both limits far above what the engine
drives (500/s), so the run measures the orchestration itself: the API, the state machine, the functions.

The throttled runs are metered for ``cost.*`` (``tests/bench/bench_cost.py`` reads them from here).
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
from functools import cache

from novita_local.simulator import Simulator
from tests.support.load import UNTHROTTLED, Boots, Limits, LoadResult, run_load

OPERATIONS = 200
UNTHROTTLED_OPERATIONS = 100
BOOTS: tuple[Boots, ...] = ("1s", "realistic")


@cache
def measured(boots: Boots) -> LoadResult:
    """One load run per boot setting and process (``cost.*`` uses the same runs)."""
    return _run(OPERATIONS, boots, Limits())


def _run(count: int, boots: Boots, limits: Limits) -> LoadResult:
    from novita_orchestrator.observability import logger

    api_key = "bench-" + secrets.token_hex(8)
    level = logger.log_level
    logger.setLevel("WARNING")  # a log line per step of 200 operations would drown the report
    try:
        # The local API server logs each request on stderr, the functions their metrics on stdout.
        with (
            Simulator(api_key=api_key) as simulator,
            contextlib.redirect_stderr(io.StringIO()),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            result = run_load(simulator, api_key, count, boots=boots, limits=limits)
    finally:
        logger.setLevel(level)
    if result.unfinished or result.accepted != count:
        raise AssertionError(f"the load run did not finish: {result.as_json()}")
    if result.terminal_notifications != [1] * count:
        raise AssertionError(
            f"an operation did not end with exactly one terminal notification: {result.as_json()}"
        )
    return result


def run() -> dict[str, object]:
    figures: dict[str, object] = {boots: measured(boots).as_json() for boots in BOOTS}
    figures["unthrottled"] = _run(UNTHROTTLED_OPERATIONS, "1s", UNTHROTTLED).as_json()
    return {"load": figures}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
