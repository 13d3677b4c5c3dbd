"""The shared breaker and limiter on DynamoDB Local: store contract, real concurrency, the real client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from novita_orchestrator.clock import SYSTEM_CLOCK
from novita_orchestrator.deps.novita import resilient_guard
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NotFound, NovitaError
from novita_orchestrator.resilience.breaker import BreakerRecord, BreakerState
from novita_orchestrator.resilience.errors import BreakerOpen, StoreUnavailable
from novita_orchestrator.resilience.guard import ResilientGuard, resilience_snapshot
from novita_orchestrator.settings import NovitaSettings
from novita_orchestrator.store.resilience_store import DynamoResilienceStore
from tests.support.clock import FakeClock
from tests.support.dynamodb_local import DynamoDBLocal
from tests.support.resilience_fake import InMemoryResilienceStore
from tests.support.resilience_workers import (
    PROCESSES,
    THREADS_PER_PROCESS,
    in_processes,
    max_in_any_window,
    saturate_guard,
    storm_of_business_errors,
    storm_of_upstream_failures,
)
from tests.support.simulator import Simulator

pytestmark = pytest.mark.integration

WORKERS = PROCESSES * THREADS_PER_PROCESS


@pytest.fixture
def table(dynamodb_local: DynamoDBLocal) -> str:
    return dynamodb_local.create_table_from_template("ResilienceTable")


# --- the adapter keeps the same promises as the in-memory fake the unit tests use -----------------


@pytest.fixture(params=["in-memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "in-memory":
        yield InMemoryResilienceStore()
        return
    db: DynamoDBLocal = request.getfixturevalue("dynamodb_local")
    yield DynamoResilienceStore(db.client(), db.create_table_from_template("ResilienceTable"), FakeClock())


def test_contract_a_missing_breaker_is_closed_and_counts_start_from_nothing(store) -> None:
    assert store.load_breaker("novita") == BreakerRecord()
    counted = store.count_failure("novita", generation=0, window_started_at=0.0, restart_window_at=100.1234)
    assert counted is not None
    assert (counted.consecutive_failures, counted.window_failures, counted.window_started_at) == (
        1,
        1,
        100.123,
    )
    again = store.count_failure("novita", generation=0, window_started_at=100.123, restart_window_at=None)
    assert again is not None and (again.consecutive_failures, again.window_failures) == (2, 2)
    reset = store.count_success("novita", generation=0, window_started_at=100.123)
    assert reset is not None and (reset.consecutive_failures, reset.window_successes) == (0, 1)


def test_contract_stale_expectations_lose_the_race_and_write_nothing(store) -> None:
    store.count_failure("novita", generation=0, window_started_at=0.0, restart_window_at=100.0)
    assert (
        store.count_failure("novita", generation=1, window_started_at=100.0, restart_window_at=None) is None
    )
    assert store.count_failure("novita", generation=0, window_started_at=99.0, restart_window_at=None) is None
    assert store.count_success("novita", generation=0, window_started_at=99.0) is None
    half_open = BreakerRecord(state=BreakerState.HALF_OPEN, generation=1, probes_admitted=1, retry_at=130.5)
    assert not store.replace_breaker(
        "novita", expected_state=BreakerState.OPEN, expected_generation=0, record=half_open
    )
    assert store.load_breaker("novita").window_failures == 1


def test_contract_probes_are_admitted_up_to_the_limit_and_only_in_their_generation(store) -> None:
    half_open = BreakerRecord(state=BreakerState.HALF_OPEN, generation=1, probes_admitted=1, retry_at=130.5)
    assert store.replace_breaker(
        "novita", expected_state=BreakerState.CLOSED, expected_generation=0, record=half_open
    )
    assert store.load_breaker("novita") == half_open
    assert store.admit_probe("novita", generation=1, max_probes=2) is not None
    assert store.admit_probe("novita", generation=1, max_probes=2) is None
    assert store.admit_probe("novita", generation=0, max_probes=5) is None
    assert store.count_probe_success("novita", generation=2) is None
    counted = store.count_probe_success("novita", generation=1)
    assert counted is not None and (counted.probes_admitted, counted.probe_successes) == (2, 1)


def test_contract_bucket_reservations(store) -> None:
    first = store.reserve_when_idle("novita", now=100.0, interval=0.25)
    assert first.granted and first.record.theoretical_arrival == pytest.approx(100.25)
    busy = store.reserve_when_idle("novita", now=100.1, interval=0.25)
    assert not busy.granted and busy.record.theoretical_arrival == pytest.approx(100.25)
    queued = store.reserve_after_queue("novita", now=100.1, interval=0.25, latest_arrival=100.3)
    assert queued.granted and queued.record.theoretical_arrival == pytest.approx(100.5)
    too_late = store.reserve_after_queue("novita", now=100.1, interval=0.25, latest_arrival=100.4)
    assert not too_late.granted and too_late.record.theoretical_arrival == pytest.approx(100.5)
    held = store.hold_back("novita", until=105.0, arrival_floor=106.0)
    assert (held.hold_until, held.theoretical_arrival) == pytest.approx((105.0, 106.0))
    not_lowered = store.hold_back("novita", until=101.0, arrival_floor=102.0)
    assert (not_lowered.hold_until, not_lowered.theoretical_arrival) == pytest.approx((105.0, 106.0))


def test_dynamodb_errors_other_than_a_lost_race_are_reported_as_store_unavailable(dynamodb_local) -> None:
    store = DynamoResilienceStore(dynamodb_local.client(), "NoSuchResilienceTable", FakeClock())
    with pytest.raises(StoreUnavailable, match="ResourceNotFoundException"):
        store.load_breaker("novita")
    with pytest.raises(StoreUnavailable):
        store.reserve_when_idle("novita", now=100.0, interval=0.1)


# --- real concurrency: 16 workers in 2 processes --------------------------------------------------


def test_the_limiter_holds_the_whole_deployment_to_rate_plus_burst(dynamodb_local, table) -> None:
    rate, burst, seconds = 20.0, 5, 5.0
    start_at = time.time() + 4.0  # room for the spawned processes to import and connect
    stop_at = start_at + seconds
    results = in_processes(saturate_guard, dynamodb_local.endpoint_url, table, rate, burst, start_at, stop_at)

    admitted = [moment for result in results for moment in result["admitted"]]
    assert all(result["admitted"] for result in results), "both processes were let through"
    # Never more than the bucket allows in any one-second window of granted slots, wherever the
    # window starts; and no caller was released before its slot (threads may only wake later).
    assert max_in_any_window(admitted, 1.0) <= rate + burst
    assert sum(result["early"] for result in results) == 0
    # Saturated, the deployment gets (nearly) all of its rate: count after the first second.
    steady = [moment for moment in admitted if start_at + 1.0 <= moment < stop_at]
    assert len(steady) >= 0.9 * rate * (seconds - 1.0)


def test_the_breaker_opens_once_for_everyone_and_half_open_admits_only_the_probes(
    dynamodb_local, table
) -> None:
    probes = 3
    breaker = {
        "BREAKER_CONSECUTIVE_FAILURES": 5,
        "BREAKER_RECOVERY_SECONDS": 3.0,
        "BREAKER_HALF_OPEN_PROBES": probes,
        "BREAKER_SUCCESSES_TO_CLOSE": 2,
    }
    start_at = time.time() + 4.0
    results = in_processes(storm_of_upstream_failures, dynamodb_local.endpoint_url, table, breaker, start_at)
    workers = [worker for result in results for worker in result["workers"]]
    assert len(workers) == WORKERS

    assert sum(w["opened"] for w in workers) == 1, "exactly one worker opened the breaker"
    assert len({w["retry_at"] for w in workers}) == 1, "every worker was refused with the same retry time"
    assert sum(w["failures_sent"] for w in workers) >= 5
    admitted_probes = sum(w["probe"] for w in workers)
    assert 1 <= admitted_probes <= probes
    assert sum(w["half_opened"] for w in workers) == 1
    assert sum(w["reopened"] for w in workers) == 1, "the failed probes re-opened it exactly once"

    state = DynamoResilienceStore(dynamodb_local.client(), table, SYSTEM_CLOCK).load_breaker("novita")
    assert state.state is BreakerState.OPEN
    assert state.opened_count == 2


def test_a_storm_of_business_errors_never_opens_the_breaker(dynamodb_local, table) -> None:
    breaker = {
        "BREAKER_CONSECUTIVE_FAILURES": 3,
        "BREAKER_MIN_CALLS": 5,
        "BREAKER_FAILURE_RATE_THRESHOLD": 0.1,
    }
    start_at = time.time() + 4.0
    results = in_processes(
        storm_of_business_errors, dynamodb_local.endpoint_url, table, breaker, start_at, 20
    )
    assert sum(r["refused"] for r in results) == 0
    assert sum(r["transitions"] for r in results) == 0
    state = DynamoResilienceStore(dynamodb_local.client(), table, SYSTEM_CLOCK).load_breaker("novita")
    assert (state.state, state.window_failures, state.opened_count) == (BreakerState.CLOSED, 0, 0)


# --- the real Novita client, guarded, against the simulator ---------------------------------------


def guarded_client(
    sim: Simulator, dynamodb_local: DynamoDBLocal, table: str
) -> tuple[NovitaClient, ResilientGuard]:
    settings = NovitaSettings(
        NOVITA_API_KEY=sim.api_key,
        NOVITA_BASE_URL=sim.base_url,
        NOVITA_RETRY_BASE_SECONDS=0.01,
        NOVITA_RETRY_MAX_SECONDS=0.02,
        NOVITA_MAX_ATTEMPTS=2,
        RESILIENCE_TABLE_NAME=table,
        DYNAMODB_ENDPOINT_URL=dynamodb_local.endpoint_url,
        BREAKER_CONSECUTIVE_FAILURES=4,
        BREAKER_RECOVERY_SECONDS=60,
    )
    guard = resilient_guard(
        settings, DynamoResilienceStore(dynamodb_local.client(), table, SYSTEM_CLOCK), SYSTEM_CLOCK
    )
    session = requests.Session()
    session.trust_env = False  # loopback only
    return NovitaClient(settings, session=session, guard=guard), guard


def test_the_client_fails_fast_once_the_breaker_opens(simulator, dynamodb_local, table) -> None:
    simulator.admin.add_fault(
        kind="error", path="/gpu/instance", method="GET", status=503, reason="UNKNOWN", count=None
    )
    client, guard = guarded_client(simulator, dynamodb_local, table)

    for _ in range(2):  # two calls of two attempts each: four upstream failures
        with pytest.raises(NovitaError) as failed:
            client.get_instance("inst-dev-box")
        assert not isinstance(failed.value, BreakerOpen)
    sent = len(simulator.admin.journal(path="/gpu/instance", method="GET"))
    assert sent == 4

    with pytest.raises(BreakerOpen) as refused:
        client.get_instance("inst-dev-box")
    assert refused.value.retry_at > time.time() + 50
    # The refusal says which failure opened it (kept in the shared record, so every Lambda says it).
    assert refused.value.because.startswith("Novita get_instance failed"), refused.value.because
    assert str(refused.value).startswith(refused.value.because)
    assert len(simulator.admin.journal(path="/gpu/instance", method="GET")) == sent, "nothing reached Novita"
    snapshot = resilience_snapshot(guard)
    assert snapshot.breaker is not None and snapshot.breaker.state is BreakerState.OPEN


def test_a_storm_of_not_found_answers_leaves_the_breaker_closed(simulator, dynamodb_local, table) -> None:
    client, guard = guarded_client(simulator, dynamodb_local, table)
    for n in range(12):
        with pytest.raises(NotFound):
            client.get_instance(f"inst-deleted-{n}")
    assert len(simulator.admin.journal(path="/gpu/instance", method="GET")) == 12
    snapshot = resilience_snapshot(guard)
    assert snapshot.breaker is not None
    assert (snapshot.breaker.state, snapshot.breaker.consecutive_failures) == (BreakerState.CLOSED, 0)
    client.get_instance("inst-dev-box")  # still let through
