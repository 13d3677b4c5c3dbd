"""Worker processes for the shared-resilience concurrency tests and the rate-limiter benchmark.

Each process runs several threads; every thread plays one Lambda (its own breaker and limiter, so
no process-local cache is shared between "Lambdas"), all against the same DynamoDB table. The
functions are module-level so a ``spawn`` process pool can import them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import boto3
from botocore.config import Config

from novita_orchestrator.clock import SYSTEM_CLOCK
from novita_orchestrator.deps.novita import resilient_guard
from novita_orchestrator.novita.errors import Conflict, NotFound, UpstreamError
from novita_orchestrator.resilience.breaker import BreakerConfig, CircuitBreaker
from novita_orchestrator.resilience.errors import BreakerOpen, RateLimitExhausted
from novita_orchestrator.resilience.guard import ResilientGuard
from novita_orchestrator.resilience.rate_limiter import LimiterConfig, RateLimiter
from novita_orchestrator.settings import NovitaSettings
from novita_orchestrator.store.resilience_store import DynamoResilienceStore
from tests.support.counting import CountingClient, CountingTransitions
from tests.support.dynamodb_local import LOCAL_CREDENTIALS

PROCESSES = 2
THREADS_PER_PROCESS = 8


def _store(endpoint_url: str, table: str, threads: int) -> tuple[DynamoResilienceStore, CountingClient]:
    config = Config(max_pool_connections=threads * 2, retries={"mode": "standard", "max_attempts": 3})
    client = CountingClient(
        boto3.client("dynamodb", endpoint_url=endpoint_url, config=config, **LOCAL_CREDENTIALS)
    )
    store = DynamoResilienceStore(client, table, SYSTEM_CLOCK)
    store.load_limiter("warm-up")  # open the connection before the clock starts
    client.reset()
    return store, client


def _sleep_until(moment: float) -> None:
    while (remaining := moment - time.time()) > 0:
        time.sleep(remaining)


def _run_threads(threads: int, work: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in range(threads)]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = work(index)
        except BaseException as exc:  # surfaced to the test below, not lost with the thread
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return results


def in_processes(function: Callable[..., dict[str, Any]], *args: Any) -> list[dict[str, Any]]:
    """Run ``function(*args)`` in each of :data:`PROCESSES` fresh (spawned) processes."""
    with ProcessPoolExecutor(max_workers=PROCESSES, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(function, *args) for _ in range(PROCESSES)]
        return [future.result(timeout=120) for future in futures]


# --- rate limiter ---------------------------------------------------------------------------------


class _SlotRecordingLimiter(RateLimiter):
    """The real limiter, remembering the slots it granted (the guard does not return them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots: list[float] = []

    def acquire(self, deadline: float, operation: str = "") -> float:
        slot = super().acquire(deadline, operation)
        self.slots.append(slot)
        return slot


def saturate_guard(
    endpoint_url: str, table: str, rate: float, burst: int, start_at: float, stop_at: float
) -> dict[str, Any]:
    """Every thread sends successful "Novita calls" through its own guard as fast as it is let through.

    Returns the slots the limiter granted, the moments ``before_request`` actually returned (a little
    later: thread scheduling), the refusals and the DynamoDB calls made (breaker reads included).
    """
    store, client = _store(endpoint_url, table, THREADS_PER_PROCESS)

    def work(_: int) -> dict[str, Any]:
        limiter = _SlotRecordingLimiter(store, SYSTEM_CLOCK, LimiterConfig(rate_per_second=rate, burst=burst))
        guard = ResilientGuard(CircuitBreaker(store, SYSTEM_CLOCK, BreakerConfig()), limiter)
        returned: list[float] = []
        refused = 0
        _sleep_until(start_at)
        while time.time() < stop_at:
            try:
                guard.before_request("get_instance", time.time() + 2.0)
            except RateLimitExhausted:
                refused += 1
                continue
            returned.append(time.time())
            guard.on_success("get_instance")
        return {"admitted": limiter.slots, "returned": returned, "refused": refused}

    results = _run_threads(THREADS_PER_PROCESS, work)
    return {
        "admitted": [moment for result in results for moment in result["admitted"]],
        "early": sum(
            r < a for result in results for a, r in zip(result["admitted"], result["returned"], strict=True)
        ),
        "refused": sum(result["refused"] for result in results),
        "ddb_calls": client.calls,
        "ddb_reads": client.reads,
    }


def max_in_any_window(moments: list[float], window: float) -> int:
    """The most moments inside any half-open window ``[t, t + window)``."""
    ordered = sorted(moments)
    best, first = 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


# --- circuit breaker ------------------------------------------------------------------------------


def _guard_settings(**breaker: Any) -> NovitaSettings:
    # A limiter far above what the test sends: these runs are about the breaker.
    return NovitaSettings(
        NOVITA_API_KEY="unused", NOVITA_RATE_LIMIT_PER_SECOND=1000, NOVITA_RATE_BURST=1000, **breaker
    )


def storm_of_business_errors(
    endpoint_url: str, table: str, breaker: dict[str, Any], start_at: float, calls_per_worker: int
) -> dict[str, Any]:
    """Every thread gets only not-found / conflict answers from Novita."""
    store, _ = _store(endpoint_url, table, THREADS_PER_PROCESS)
    settings = _guard_settings(**breaker)

    def work(_: int) -> dict[str, Any]:
        lambda_view = CountingTransitions(store)
        guard = resilient_guard(settings, lambda_view, SYSTEM_CLOCK)
        _sleep_until(start_at)
        refused = 0
        for n in range(calls_per_worker):
            try:
                guard.before_request("get_instance", time.time() + 10)
            except BreakerOpen:
                refused += 1
                continue
            error = NotFound("gone", status=400, reason="RESOURCE_NOT_FOUND") if n % 2 else Conflict("busy")
            guard.on_failure("get_instance", error)
        return {"refused": refused, "transitions": lambda_view.won}

    results = _run_threads(THREADS_PER_PROCESS, work)
    return {
        "refused": sum(r["refused"] for r in results),
        "transitions": sum(r["transitions"] for r in results),
    }


def storm_of_upstream_failures(
    endpoint_url: str, table: str, breaker: dict[str, Any], start_at: float
) -> dict[str, Any]:
    """Three phases, synchronised across processes by the times stored in the breaker itself.

    1. Every thread calls and gets a 503 until the breaker refuses it.
    2. Just after the recovery time, every thread tries once: only probes get through; they hold on.
    3. The probes all fail: the breaker re-opens.
    """
    store, client = _store(endpoint_url, table, THREADS_PER_PROCESS)
    settings = _guard_settings(**breaker)

    def work(_: int) -> dict[str, Any]:
        lambda_view = CountingTransitions(store)
        guard = resilient_guard(settings, lambda_view, SYSTEM_CLOCK)
        _sleep_until(start_at)
        failures_sent, retry_at = 0, 0.0
        for _attempt in range(500):
            try:
                guard.before_request("get_instance", time.time() + 10)
            except BreakerOpen as refused:
                retry_at = refused.retry_at
                break
            guard.on_failure("get_instance", UpstreamError("boom", status=503, reason="UNKNOWN"))
            failures_sent += 1
        opened = lambda_view.won

        _sleep_until(retry_at + 0.3)
        try:
            guard.before_request("get_instance", time.time() + 10)
            probe = True
        except BreakerOpen:
            probe = False
        half_opened = lambda_view.won - opened

        _sleep_until(retry_at + 1.5)
        if probe:
            guard.on_failure("get_instance", UpstreamError("still down", status=503, reason="UNKNOWN"))
        reopened = lambda_view.won - opened - half_opened
        return {
            "failures_sent": failures_sent,
            "retry_at": retry_at,
            "probe": probe,
            "opened": opened,
            "half_opened": half_opened,
            "reopened": reopened,
        }

    return {"workers": _run_threads(THREADS_PER_PROCESS, work), "ddb_calls": client.calls}
