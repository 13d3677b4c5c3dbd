"""Load: 200 operations started at once through the local REST API against the simulator holding a
global limit of 10 Novita requests/s, the service's shared limiter at 10/s (burst 1) under it.

* ``load.operations_per_minute``: operations ended (ready or failed) per minute of the run, from the
  first API request to the last operation's end.
* ``load.novita_429s``: 429 answers the simulator gave (0: the shared limiter kept under its limit).
* ``load.peak_requests_per_second``: the most Novita requests in any one-second window (journal).
* ``load.ready`` / ``load.failed`` / ``load.elapsed_s`` / ``load.novita_requests``: for context.
* ``load.unthrottled.*``: 100 operations with both limits far above what the engine drives (500/s),
  so the run measures the orchestration itself: the API, the state machine, the functions.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets

from novita_local.simulator import Simulator
from tests.support.load import UNTHROTTLED, run_load

OPERATIONS = 200
UNTHROTTLED_OPERATIONS = 100


def run() -> dict[str, object]:
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
            result = run_load(simulator, api_key, OPERATIONS)
            unthrottled = run_load(simulator, api_key, UNTHROTTLED_OPERATIONS, limits=UNTHROTTLED)
    finally:
        logger.setLevel(level)
    for run, count in ((result, OPERATIONS), (unthrottled, UNTHROTTLED_OPERATIONS)):
        if run.unfinished or run.accepted != count:
            raise AssertionError(f"the load run did not finish: {run.as_json()}")
    return {"load": {**result.as_json(), "unthrottled": unthrottled.as_json()}}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
