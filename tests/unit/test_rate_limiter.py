"""The shared rate limiter (token bucket in GCRA form) on a fake clock and an in-memory store."""

from __future__ import annotations

import pytest

from novita_orchestrator.resilience.errors import RateLimitExhausted
from novita_orchestrator.resilience.rate_limiter import (
    DEFAULT_HOLD_SECONDS,
    MAX_HOLD_SECONDS,
    LimiterConfig,
    RateLimiter,
)
from tests.support.clock import FakeClock
from tests.support.resilience_fake import InMemoryResilienceStore

RATE, BURST = 10.0, 4


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> InMemoryResilienceStore:
    return InMemoryResilienceStore()


def make_limiter(store: InMemoryResilienceStore, clock: FakeClock, rate: float = RATE, burst: int = BURST):
    return RateLimiter(store, clock, LimiterConfig(rate_per_second=rate, burst=burst))


def max_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_an_idle_bucket_lets_a_burst_through_at_once_then_spaces_calls(store, clock) -> None:
    limiter = make_limiter(store, clock)
    start = clock.now()
    slots = [limiter.acquire(deadline=start + 60) for _ in range(BURST + 2)]
    assert slots[:BURST] == [start] * BURST
    assert slots[BURST] == pytest.approx(start + 1 / RATE)
    assert slots[BURST + 1] == pytest.approx(start + 2 / RATE)
    assert clock.now() == pytest.approx(slots[-1])  # the caller slept until its slot, not beyond


def test_no_window_ever_holds_more_than_rate_plus_burst_and_the_rate_is_reached(store, clock) -> None:
    # Two "Lambdas" sharing one bucket, taking turns as fast as they are let through.
    limiters = [make_limiter(store, clock), make_limiter(store, clock)]
    start = clock.now()
    times = [limiters[i % 2].acquire(deadline=clock.now() + 60) for i in range(200)]
    assert max_in_any_window(times, 1.0) <= RATE + BURST
    elapsed = times[-1] - start
    assert (len(times) - BURST) / elapsed == pytest.approx(RATE, rel=0.01)


def test_a_quiet_spell_refills_the_bucket_but_never_beyond_the_burst(store, clock) -> None:
    limiter = make_limiter(store, clock)
    for _ in range(BURST):
        limiter.acquire(deadline=clock.now() + 60)
    clock.advance(3600)
    now = clock.now()
    slots = [limiter.acquire(deadline=now + 60) for _ in range(BURST + 1)]
    assert slots[:BURST] == [now] * BURST
    assert slots[BURST] > now


def test_one_store_write_per_admitted_request(store, clock) -> None:
    limiter = make_limiter(store, clock)
    for _ in range(100):
        limiter.acquire(deadline=clock.now() + 60)
    assert store.calls <= 101  # one conditional update each; at most one extra when the bucket first fills


def test_a_caller_whose_budget_ends_before_the_next_slot_fails_at_once_and_takes_nothing(
    store, clock
) -> None:
    limiter = make_limiter(store, clock)
    for _ in range(BURST):
        limiter.acquire(deadline=clock.now() + 60)
    before = clock.now()
    tat_before = store.load_limiter("novita").theoretical_arrival
    with pytest.raises(RateLimitExhausted) as exhausted:
        limiter.acquire(deadline=before + 0.05, operation="start_instance")  # next slot is at +0.1
    assert clock.now() == before  # it did not wait for nothing
    assert store.load_limiter("novita").theoretical_arrival == tat_before  # no slot was consumed
    assert exhausted.value.next_slot_at == pytest.approx(before + 0.1)
    assert exhausted.value.code == "RATE_LIMIT_BUDGET_EXHAUSTED"
    assert exhausted.value.retryable is False
    assert "start_instance" in str(exhausted.value) and "10/s" in str(exhausted.value)
    assert limiter.acquire(deadline=before + 0.1) == pytest.approx(before + 0.1)


def test_a_caller_waits_up_to_its_deadline(store, clock) -> None:
    limiter = make_limiter(store, clock, rate=1, burst=1)
    start = clock.now()
    limiter.acquire(deadline=start + 10)
    assert limiter.acquire(deadline=start + 1.0) == pytest.approx(start + 1.0)
    with pytest.raises(RateLimitExhausted):
        limiter.acquire(deadline=clock.now() + 0.5)


def test_a_deadline_in_the_past_gets_no_slot(store, clock) -> None:
    limiter = make_limiter(store, clock)
    with pytest.raises(RateLimitExhausted):
        limiter.acquire(deadline=clock.now() - 1)
    assert "novita" not in store.limiters


def test_a_429_holds_back_every_caller_of_the_deployment(store, clock) -> None:
    told, other = make_limiter(store, clock), make_limiter(store, clock)
    told.acquire(deadline=clock.now() + 60)
    told.hold_back(retry_after=5.0)
    until = clock.now() + 5.0
    with pytest.raises(RateLimitExhausted):
        other.acquire(deadline=until - 0.5)  # no slot before the hold-back ends
    slots = [other.acquire(deadline=until + 60) for _ in range(3)]
    # Traffic resumes at the configured rate, without a burst.
    assert slots == pytest.approx([until, until + 0.1, until + 0.2])
    assert other.snapshot().hold_back_until is None  # over by now


def test_a_later_shorter_retry_after_does_not_shorten_the_hold(store, clock) -> None:
    limiter = make_limiter(store, clock)
    limiter.hold_back(retry_after=10.0)
    limiter.hold_back(retry_after=1.0)
    assert store.load_limiter("novita").hold_until == pytest.approx(clock.now() + 10.0)


@pytest.mark.parametrize(
    ("retry_after", "held"), [(None, DEFAULT_HOLD_SECONDS), (86_400.0, MAX_HOLD_SECONDS), (-3.0, 0.0)]
)
def test_missing_huge_or_negative_retry_after_are_bounded(store, clock, retry_after, held) -> None:
    make_limiter(store, clock).hold_back(retry_after=retry_after)
    assert store.load_limiter("novita").hold_until == pytest.approx(clock.now() + held)


def test_snapshot_shows_tokens_queue_and_hold(store, clock) -> None:
    limiter = make_limiter(store, clock)
    assert limiter.snapshot().tokens == BURST
    limiter.acquire(deadline=clock.now() + 60)
    assert limiter.snapshot().tokens == BURST - 1
    limiter.hold_back(retry_after=3.0)
    snapshot = limiter.snapshot()
    assert snapshot.tokens == 0
    assert snapshot.hold_back_until is not None
    assert snapshot.hold_back_until.timestamp() == pytest.approx(clock.now() + 3.0)
    assert snapshot.next_slot_at.timestamp() == pytest.approx(clock.now() + 3.0)
    assert (snapshot.rate_per_second, snapshot.burst) == (RATE, BURST)


def test_a_stale_idle_guess_costs_one_more_call_and_still_gets_its_slot(store, clock) -> None:
    late, busy = make_limiter(store, clock, burst=1), make_limiter(store, clock, burst=1)
    busy.acquire(deadline=clock.now() + 60)  # the bucket is no longer idle; ``late`` does not know
    calls_before = store.calls
    slot = late.acquire(deadline=clock.now() + 60)
    assert store.calls - calls_before == 2
    assert slot == pytest.approx(clock.now()) and slot > 0
    assert store.load_limiter("novita").theoretical_arrival == pytest.approx(slot + 1 / RATE)


def test_only_the_store_refuses_a_caller_not_what_this_process_last_saw(clock) -> None:
    # A long hold-back, then the limiter's item is gone (expired or reset): the bucket is idle again,
    # and what this process remembers from before must not keep refusing callers.
    limiter = make_limiter(InMemoryResilienceStore(), clock)
    limiter.hold_back(retry_after=MAX_HOLD_SECONDS)
    limiter._store = InMemoryResilienceStore()  # the store as it is now: empty

    slot = limiter.acquire(deadline=clock.now() + 1)

    assert slot == clock.now()
