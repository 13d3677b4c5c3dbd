"""The shared circuit breaker, every transition, on a fake clock and an in-memory store."""

from __future__ import annotations

import pytest

from novita_orchestrator.deps import Aws
from novita_orchestrator.deps.novita import call_guard, resilient_guard
from novita_orchestrator.novita.errors import (
    Conflict,
    NetworkError,
    NotFound,
    NovitaError,
    NovitaTimeout,
    RateLimited,
    UpstreamError,
)
from novita_orchestrator.novita.guard import NoGuard
from novita_orchestrator.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker
from novita_orchestrator.resilience.errors import BreakerOpen, RateLimitExhausted, StoreUnavailable
from novita_orchestrator.resilience.guard import ResilientGuard, resilience_snapshot
from novita_orchestrator.settings import ConfigurationError, NovitaSettings
from tests.support.clock import FakeClock
from tests.support.counting import CountingTransitions
from tests.support.resilience_fake import InMemoryResilienceStore

RECOVERY = 30.0


def make_breaker(
    store: InMemoryResilienceStore | CountingTransitions,
    clock: FakeClock,
    *,
    cache_seconds: float = 0.0,
    **overrides: float,
) -> CircuitBreaker:
    config = BreakerConfig(
        **{  # type: ignore[arg-type]
            "consecutive_failures": 3,
            "failure_rate": 0.5,
            "min_calls": 100,
            "window_seconds": 60.0,
            "recovery_seconds": RECOVERY,
            "half_open_probes": 2,
            "successes_to_close": 2,
            "cache_seconds": cache_seconds,
            **overrides,
        }
    )
    return CircuitBreaker(store, clock, config)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> InMemoryResilienceStore:
    return InMemoryResilienceStore()


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.admit())


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record_success(breaker.admit())


def state_of(store: InMemoryResilienceStore) -> BreakerState:
    return store.load_breaker("novita").state


def open_breaker(breaker: CircuitBreaker) -> None:
    fail(breaker, breaker.config.consecutive_failures)
    assert breaker.snapshot().state is BreakerState.OPEN


# --- CLOSED -> OPEN -------------------------------------------------------------------------------


def test_healthy_calls_pass_and_write_nothing(store, clock) -> None:
    breaker = make_breaker(store, clock, cache_seconds=1.0)
    succeed(breaker, 50)
    assert store.calls == 1  # one read, then the cache
    assert "novita" not in store.breakers  # no write happened at all


def test_consecutive_failures_open_the_breaker_at_the_threshold(store, clock) -> None:
    breaker = make_breaker(store, clock)
    fail(breaker, 2)
    assert state_of(store) is BreakerState.CLOSED
    fail(breaker)
    assert state_of(store) is BreakerState.OPEN
    with pytest.raises(BreakerOpen) as refused:
        breaker.check("get_instance")
    assert refused.value.retry_at == pytest.approx(clock.now() + RECOVERY)
    assert refused.value.code == "BREAKER_OPEN"
    assert "open" in str(refused.value) and "get_instance" in str(refused.value)


def test_a_success_resets_the_consecutive_count(store, clock) -> None:
    breaker = make_breaker(store, clock)
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert state_of(store) is BreakerState.CLOSED
    fail(breaker)
    assert state_of(store) is BreakerState.OPEN


def test_failure_rate_over_the_window_opens_the_breaker(store, clock) -> None:
    breaker = make_breaker(store, clock, consecutive_failures=100, min_calls=6, failure_rate=0.5)
    for _ in range(2):
        fail(breaker)
        succeed(breaker)
    fail(breaker)  # 3 of 5: not enough calls yet
    assert state_of(store) is BreakerState.CLOSED
    succeed(breaker)
    fail(breaker)  # 4 of 7 >= 50 %
    assert state_of(store) is BreakerState.OPEN


def test_a_low_failure_rate_does_not_open(store, clock) -> None:
    breaker = make_breaker(store, clock, consecutive_failures=100, min_calls=4, failure_rate=0.5)
    for _ in range(5):
        fail(breaker)
        succeed(breaker, 3)
    assert state_of(store) is BreakerState.CLOSED


def test_failures_older_than_the_window_are_forgotten(store, clock) -> None:
    breaker = make_breaker(store, clock, consecutive_failures=100, min_calls=3, failure_rate=0.5)
    fail(breaker, 2)
    clock.advance(61)
    fail(breaker)  # a new window: 1 of 1, below min_calls
    record = store.load_breaker("novita")
    assert (record.window_failures, record.state) == (1, BreakerState.CLOSED)
    fail(breaker)
    fail(breaker)
    assert state_of(store) is BreakerState.OPEN


# --- OPEN -> HALF_OPEN -> CLOSED / OPEN -----------------------------------------------------------


def test_open_refuses_until_the_recovery_time_then_lets_a_probe_through(store, clock) -> None:
    breaker = make_breaker(store, clock)
    open_breaker(breaker)
    clock.advance(RECOVERY - 0.5)
    with pytest.raises(BreakerOpen):
        breaker.admit()
    clock.advance(0.5)
    ticket = breaker.admit()
    assert ticket.probe
    assert state_of(store) is BreakerState.HALF_OPEN


def test_half_open_admits_no_more_than_the_configured_probes(store, clock) -> None:
    breaker = make_breaker(store, clock, half_open_probes=2, successes_to_close=2)
    open_breaker(breaker)
    clock.advance(RECOVERY)
    first, second = breaker.admit(), breaker.admit()
    assert first.probe and second.probe
    with pytest.raises(BreakerOpen) as refused:
        breaker.admit()
    assert "half-open" in str(refused.value)
    assert store.load_breaker("novita").probes_admitted == 2


def test_a_probe_failure_reopens_with_a_new_recovery_time(store, clock) -> None:
    breaker = make_breaker(store, clock)
    open_breaker(breaker)
    clock.advance(RECOVERY)
    probe = breaker.admit()
    other_probe = breaker.admit()
    breaker.record_success(other_probe)
    breaker.record_failure(probe)
    snapshot = breaker.snapshot()
    assert snapshot.state is BreakerState.OPEN
    assert snapshot.opened_count == 2
    assert snapshot.next_retry_at is not None
    assert snapshot.next_retry_at.timestamp() == pytest.approx(clock.now() + RECOVERY)
    with pytest.raises(BreakerOpen):
        breaker.admit()


def test_enough_probe_successes_close_the_breaker_and_clear_its_counts(store, clock) -> None:
    breaker = make_breaker(store, clock, half_open_probes=3, successes_to_close=2)
    open_breaker(breaker)
    clock.advance(RECOVERY)
    breaker.record_success(breaker.admit())
    assert state_of(store) is BreakerState.HALF_OPEN
    breaker.record_success(breaker.admit())
    record = store.load_breaker("novita")
    assert record.state is BreakerState.CLOSED
    assert (record.consecutive_failures, record.window_failures, record.probes_admitted) == (0, 0, 0)
    fail(breaker, 2)  # a fresh count: the old failures do not carry over
    assert state_of(store) is BreakerState.CLOSED


def test_probes_that_never_answer_expire_and_a_new_round_starts(store, clock) -> None:
    breaker = make_breaker(store, clock, half_open_probes=1, successes_to_close=1)
    open_breaker(breaker)
    clock.advance(RECOVERY)
    lost_probe = breaker.admit()  # its Lambda dies: no outcome is ever reported
    with pytest.raises(BreakerOpen):
        breaker.admit()
    clock.advance(RECOVERY)
    new_probe = breaker.admit()
    assert new_probe.probe and new_probe.generation == lost_probe.generation + 1
    breaker.record_success(lost_probe)  # a late answer from the old round changes nothing
    assert state_of(store) is BreakerState.HALF_OPEN
    breaker.record_success(new_probe)
    assert state_of(store) is BreakerState.CLOSED


def test_an_outcome_from_an_earlier_generation_is_ignored(store, clock) -> None:
    breaker = make_breaker(store, clock)
    slow_call = breaker.admit()  # admitted while CLOSED, answers late
    open_breaker(breaker)
    clock.advance(RECOVERY)
    breaker.record_success(breaker.admit())
    breaker.record_success(breaker.admit())
    assert state_of(store) is BreakerState.CLOSED
    breaker.record_failure(slow_call)
    assert store.load_breaker("novita").consecutive_failures == 0


# --- many Lambdas, one breaker --------------------------------------------------------------------


def test_two_lambdas_share_one_breaker_and_only_one_performs_the_transition(store, clock) -> None:
    first_lambda, second_lambda = CountingTransitions(store), CountingTransitions(store)
    first, second = make_breaker(first_lambda, clock), make_breaker(second_lambda, clock)
    tickets = [first.admit(), second.admit(), first.admit(), second.admit()]
    first.record_failure(tickets[0])
    second.record_failure(tickets[1])
    first.record_failure(tickets[2])  # the third failure, deployment-wide
    second.record_failure(tickets[3])  # already open: nothing left to do
    assert state_of(store) is BreakerState.OPEN
    assert (first_lambda.won, second_lambda.won) == (1, 0)
    assert store.load_breaker("novita").opened_count == 1
    with pytest.raises(BreakerOpen):
        second.check()


def test_a_cached_closed_state_is_reused_for_at_most_the_cache_time(store, clock) -> None:
    caller = make_breaker(store, clock, cache_seconds=1.0)
    caller.check()  # caches CLOSED
    open_breaker(make_breaker(store, clock))
    caller.check()  # still within the cache bound
    clock.advance(1.0)
    with pytest.raises(BreakerOpen):
        caller.check()


def test_successes_to_close_above_probes_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="BREAKER_SUCCESSES_TO_CLOSE"):
        NovitaSettings.load(NOVITA_API_KEY="k", BREAKER_HALF_OPEN_PROBES=2, BREAKER_SUCCESSES_TO_CLOSE=3)


# --- through the guard: what counts as a failure ---------------------------------------------------


def make_guard(store: InMemoryResilienceStore, clock: FakeClock) -> ResilientGuard:
    settings = NovitaSettings(
        NOVITA_API_KEY="unused",
        BREAKER_CONSECUTIVE_FAILURES=3,
        BREAKER_MIN_CALLS=50,
        BREAKER_STATE_CACHE_SECONDS=0,
        NOVITA_RATE_LIMIT_PER_SECOND=1000,
        NOVITA_RATE_BURST=1000,
    )
    return resilient_guard(settings, store, clock)


def attempt(guard: ResilientGuard, clock: FakeClock, error: NovitaError | None) -> None:
    guard.before_request("get_instance", clock.now() + 30)
    if error is None:
        guard.on_success("get_instance")
    else:
        guard.on_failure("get_instance", error)


@pytest.mark.parametrize(
    "error",
    [
        UpstreamError("boom", status=503, reason="UNKNOWN"),
        NovitaTimeout("slow"),
        NetworkError("reset"),
    ],
)
def test_retryable_upstream_failures_open_the_breaker(store, clock, error) -> None:
    guard = make_guard(store, clock)
    for _ in range(3):
        attempt(guard, clock, error)
    with pytest.raises(BreakerOpen):
        guard.before_request("get_instance", clock.now() + 30)


def test_business_errors_never_count(store, clock) -> None:
    guard = make_guard(store, clock)
    for _ in range(20):
        attempt(guard, clock, NotFound("gone", status=400, reason="RESOURCE_NOT_FOUND"))
        attempt(guard, clock, Conflict("busy", status=400, reason="CONFLICT"))
    assert state_of(store) is BreakerState.CLOSED
    assert store.load_breaker("novita").window_failures == 0


def test_an_answer_between_failures_breaks_the_consecutive_run(store, clock) -> None:
    guard = make_guard(store, clock)
    for _ in range(4):
        attempt(guard, clock, UpstreamError("boom", status=500))
        attempt(guard, clock, NotFound("gone", status=400))  # Novita answered: it is up
    assert state_of(store) is BreakerState.CLOSED


def test_a_429_holds_back_the_limiter_but_does_not_count_against_the_breaker(store, clock) -> None:
    guard = make_guard(store, clock)
    for _ in range(5):
        attempt(guard, clock, RateLimited("slow down", status=429, retry_after=2.0))
    assert state_of(store) is BreakerState.CLOSED
    assert store.load_limiter("novita").hold_until == pytest.approx(clock.now() + 2.0)


def test_our_own_refusals_reported_as_failures_change_nothing(store, clock) -> None:
    guard = make_guard(store, clock)
    guard.on_failure("get_instance", BreakerOpen(retry_at=clock.now() + 5, now=clock.now()))
    guard.on_failure(
        "get_instance",
        RateLimitExhausted(next_slot_at=clock.now() + 5, deadline=clock.now(), rate=5, burst=1),
    )
    assert "novita" not in store.breakers


def test_guard_errors_are_final_novita_errors() -> None:
    opened = BreakerOpen(retry_at=1_800_000_010.0, now=1_800_000_000.0, operation="start_instance")
    exhausted = RateLimitExhausted(
        next_slot_at=1_800_000_010.0, deadline=1_800_000_001.0, rate=5, burst=10, operation="start_instance"
    )
    for error, code in ((opened, "BREAKER_OPEN"), (exhausted, "RATE_LIMIT_BUDGET_EXHAUSTED")):
        assert isinstance(error, NovitaError)
        assert error.retryable is False and error.upstream_failure is False
        assert error.code == code
    assert "in 10.0 s" in str(opened)
    assert "2027-01-15T08:00:10.000Z" in str(opened)


def test_snapshot_reports_state_counters_and_next_retry(store, clock) -> None:
    guard = make_guard(store, clock)
    attempt(guard, clock, UpstreamError("boom", status=503))
    snapshot = resilience_snapshot(guard)
    assert snapshot.enabled and snapshot.breaker is not None and snapshot.rate_limiter is not None
    assert snapshot.breaker.state is BreakerState.CLOSED
    assert (snapshot.breaker.consecutive_failures, snapshot.breaker.window_failures) == (1, 1)
    assert snapshot.breaker.next_retry_at is None
    for _ in range(2):
        attempt(guard, clock, UpstreamError("boom", status=503))
    opened = resilience_snapshot(guard).breaker
    assert opened is not None and opened.state is BreakerState.OPEN
    assert opened.next_retry_at is not None
    assert opened.next_retry_at.timestamp() == pytest.approx(clock.now() + 30.0)
    writes_before = store.calls
    resilience_snapshot(guard)
    assert store.calls == writes_before + 2  # two reads, nothing written


def test_without_a_table_there_is_no_shared_guard() -> None:
    guard = call_guard(NovitaSettings(NOVITA_API_KEY="k", RESILIENCE_TABLE_NAME=None), Aws(), FakeClock())
    assert isinstance(guard, NoGuard)
    assert resilience_snapshot(guard).enabled is False


class FlakyStore(InMemoryResilienceStore):
    """The in-memory store, but every request fails while ``down`` (DynamoDB unreachable)."""

    down = False

    def __getattribute__(self, name: str):
        attribute = super().__getattribute__(name)
        if callable(attribute) and not name.startswith("_") and super().__getattribute__("down"):
            raise StoreUnavailable(f"DynamoDB {name} failed: RequestTimeout")
        return attribute


def test_an_unreachable_store_lets_calls_through_and_never_hides_their_outcome(clock) -> None:
    store = FlakyStore()
    guard = make_guard(store, clock)
    store.down = True
    attempt(guard, clock, None)
    attempt(guard, clock, UpstreamError("boom", status=503))
    attempt(guard, clock, RateLimited("slow down", status=429, retry_after=1.0))
    store.down = False
    assert "novita" not in store.breakers and "novita" not in store.limiters
    attempt(guard, clock, UpstreamError("boom", status=503))  # counting resumes with the store
    assert store.load_breaker("novita").consecutive_failures == 1
