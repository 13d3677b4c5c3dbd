"""Accept latency: ``POST /instances/{ref}/start`` -> 202 through ``serve`` (the local REST API on the
embedded engine), with 1 caller and with 50 concurrent callers, and what the handler does
synchronously for each accept (every DynamoDB, Step Functions and Novita call, counted).

The simulator holds 160 exited instances (one per start: no start meets a running operation) that
boot in a minute, so the operations accepted earlier are polling while later ones are accepted, with
Novita at 10 requests/s and the service's limiter under it, as in ``load.*``. Every start sends an
``Idempotency-Key``, as a client that retries should.

* ``api.accept_p50_ms`` / ``api.accept_p99_ms``: ``{"callers_1": ..., "callers_50": ...}``, from the
  caller's side (HTTP included).
* ``api.handler_p50_ms`` / ``api.handler_p99_ms``: the API function's own time per accept. ``serve``
  runs one function at a time in its one process (the workflow's too: they share ``os.environ``), so
  with 50 callers most of the latency is the queue for that; on AWS each accept is its own invocation.
* ``api.accept_calls_per_request.<callers>``: calls per accept by ``service.Operation`` (the API's own
  request threads only), Novita requests as ``novita.<METHOD path>``.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from novita_local.operations import local_engine
from novita_local.serve import ApiServer
from novita_local.simulator import Simulator
from tests.support.aws_meter import Meter, metering
from tests.support.load import NOVITA_LIMIT_PER_SECOND, load_environment

SEQUENTIAL = 60
CALLERS = 50
PER_CALLER = 2
BOOT_SECONDS = 60.0


def run() -> dict[str, object]:
    from novita_orchestrator.observability import logger

    api_key = "bench-" + secrets.token_hex(8)
    level = logger.log_level
    logger.setLevel("WARNING")
    try:
        with (
            Simulator(api_key=api_key) as simulator,
            contextlib.redirect_stderr(io.StringIO()),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            results = _measure(simulator, api_key)
    finally:
        logger.setLevel(level)
    return {"api": results}


def _measure(simulator: Simulator, api_key: str) -> dict[str, Any]:
    total = SEQUENTIAL + CALLERS * PER_CALLER
    simulator.admin.reset()
    simulator.admin.add_instances(
        [
            {
                "id": f"inst-api-{n:03d}",
                "name": f"api-{n:03d}",
                "status": "exited",
                "productId": "prod-rtx4090-24g",
                "ports": "",
                "timings": {"toStart": 0, "starting": BOOT_SECONDS},
            }
            for n in range(total)
        ]
    )
    simulator.admin.set_rate_limit(NOVITA_LIMIT_PER_SECOND)
    refs = [f"inst-api-{n:03d}" for n in range(total)]
    try:
        with (
            local_engine(load_environment(simulator, api_key, "realistic")) as engine,
            ApiServer(engine, port=0, deliver_webhooks=False) as server,
        ):
            with metering() as alone:
                one = _accepts(server.url, [[ref] for ref in refs[:SEQUENTIAL]], callers=1)
            rest = refs[SEQUENTIAL:]
            batches = [rest[i * PER_CALLER : (i + 1) * PER_CALLER] for i in range(CALLERS)]
            with metering() as crowd:
                many = _accepts(server.url, batches, callers=CALLERS)
    finally:
        simulator.admin.set_rate_limit(None)
    return {
        "accept_p50_ms": {"callers_1": _pct(one, 50), "callers_50": _pct(many, 50)},
        "accept_p99_ms": {"callers_1": _pct(one, 99), "callers_50": _pct(many, 99)},
        "accept_mean_ms": {"callers_1": _mean(one), "callers_50": _mean(many)},
        # The API function's own time per accept (what each invocation takes on its own; serve runs one
        # function at a time, the workflow's included, so its callers queue for the rest).
        "handler_p50_ms": {"callers_1": _handler_ms(alone, 50), "callers_50": _handler_ms(crowd, 50)},
        "handler_p99_ms": {"callers_1": _handler_ms(alone, 99), "callers_50": _handler_ms(crowd, 99)},
        "accepts": {"callers_1": len(one), "callers_50": len(many)},
        "accept_calls_per_request": {
            "callers_1": _per_request(alone, len(one)),
            "callers_50": _per_request(crowd, len(many)),
        },
    }


def _accepts(url: str, batches: list[list[str]], *, callers: int) -> list[float]:
    """Each batch is one caller's starts, sent one after another; the callers run at once."""
    latencies: list[float] = []
    lock = threading.Lock()

    def caller(refs: list[str]) -> None:
        session = requests.Session()
        session.trust_env = False  # loopback only
        for ref in refs:
            began = time.perf_counter()
            answer = session.post(
                f"{url}/instances/{ref}/start",
                json={},
                headers={"Idempotency-Key": f"bench-{ref}"},
                timeout=120,
            )
            took = (time.perf_counter() - began) * 1000
            if answer.status_code != 202:
                raise AssertionError(f"{ref}: HTTP {answer.status_code} {answer.text}")
            with lock:
                latencies.append(took)

    with ThreadPoolExecutor(max_workers=callers) as pool:
        for future in [pool.submit(caller, batch) for batch in batches]:
            future.result()
    return latencies


def _per_request(meter: Meter, accepts: int) -> dict[str, float]:
    calls = {f"{service}.{operation}": n for (service, operation), n in meter.api_calls.items()}
    calls.pop("lambda.Invoke", None)  # serve invoking the API function: API Gateway's part
    calls |= {f"novita.{request}": n for request, n in meter.api_novita.items()}
    return {name: round(n / accepts, 3) for name, n in sorted(calls.items())}


def _handler_ms(meter: Meter, pct: int) -> float:
    return _pct([seconds * 1000 for seconds in meter.handler_seconds.get("ApiFunction", [0.0])], pct)


def _pct(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))], 1)


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 1)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
