"""The shared guard under saturation, against DynamoDB Local, measured in one run.

16 "Lambdas" (2 processes x 8 threads, each thread with its own breaker cache and limiter) send
successful calls through the guard as fast as they are let through, for a few seconds.

* ``admitted_ratio``: admitted rate after the first second / configured rate (1.0 = all of it).
* ``max_window_count``: the most slots granted in any one-second window, wherever it starts.
* ``max_window_over_limit``: requests above rate + burst (the most the bucket may admit) in that
  worst window; 0 when the limit held.
* ``ddb_calls_per_admit``: DynamoDB requests per admitted call (limiter writes, breaker reads, lost
  races); ``ddb_reads_per_admit`` / ``ddb_writes_per_admit`` split it.
"""

from __future__ import annotations

import time
from typing import Any

from tests.support.dynamodb_local import started
from tests.support.resilience_workers import (
    PROCESSES,
    THREADS_PER_PROCESS,
    in_processes,
    max_in_any_window,
    saturate_guard,
)

RATE, BURST, SECONDS = 20.0, 5, 6.0


def run() -> dict[str, Any]:
    db = started()
    try:
        table = db.create_table_from_template("ResilienceTable")
        start_at = time.time() + 4.0  # room for the spawned processes to import and connect
        stop_at = start_at + SECONDS
        results = in_processes(saturate_guard, db.endpoint_url, table, RATE, BURST, start_at, stop_at)
    finally:
        db.stop()
    admitted = [moment for result in results for moment in result["admitted"]]
    steady = [moment for moment in admitted if start_at + 1.0 <= moment < stop_at]
    calls = sum(result["ddb_calls"] for result in results)
    reads = sum(result["ddb_reads"] for result in results)
    largest = max_in_any_window(admitted, 1.0)
    return {
        "rate_limiter": {
            "workers": PROCESSES * THREADS_PER_PROCESS,
            "configured_rate_per_second": RATE,
            "burst": BURST,
            "admitted": len(admitted),
            "admitted_ratio": len(steady) / (RATE * (SECONDS - 1.0)),
            "max_window_count": largest,
            "max_window_over_limit": max(0, largest - (RATE + BURST)),
            "ddb_calls_per_admit": calls / len(admitted),
            "ddb_reads_per_admit": reads / len(admitted),
            "ddb_writes_per_admit": (calls - reads) / len(admitted),
            "refused": sum(result["refused"] for result in results),
        }
    }
