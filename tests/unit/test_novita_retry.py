"""The retry loop: bounded attempts, backoff within limits, Retry-After, the time budget."""

from __future__ import annotations

import pytest

from novita_orchestrator.novita.errors import NotFound, NovitaError, RateLimited, UpstreamError
from novita_orchestrator.novita.retry import RetryAttempt, RetryPolicy
from novita_orchestrator.resilience.errors import RateLimitExhausted
from novita_orchestrator.settings import NovitaSettings
from tests.support.clock import FakeClock


class SleepLog(FakeClock):
    """A fake clock that remembers every sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


def settings(**overrides: object) -> NovitaSettings:
    values: dict[str, object] = {
        "NOVITA_API_KEY": "unused",
        "NOVITA_MAX_ATTEMPTS": 4,
        "NOVITA_RETRY_BASE_SECONDS": 0.5,
        "NOVITA_RETRY_MAX_SECONDS": 8.0,
        "NOVITA_RETRY_BUDGET_SECONDS": 30.0,
    }
    values.update(overrides)
    return NovitaSettings(**values)


def failing(errors: list[NovitaError], calls: list[int], result: str = "ok"):
    def attempt() -> str:
        calls.append(1)
        if errors:
            raise RetryAttempt(errors.pop(0))
        return result

    return attempt


def test_retries_until_success() -> None:
    clock = SleepLog()
    policy = RetryPolicy(settings(), clock)
    calls: list[int] = []

    result = policy.run(
        "get_instance", policy.deadline(), failing([UpstreamError("503"), UpstreamError("503")], calls)
    )

    assert result == "ok"
    assert len(calls) == 3
    assert len(clock.sleeps) == 2


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    clock = SleepLog()
    policy = RetryPolicy(settings(NOVITA_MAX_ATTEMPTS=3), clock)
    calls: list[int] = []
    errors: list[NovitaError] = [UpstreamError(f"failure {n}") for n in range(10)]

    with pytest.raises(UpstreamError, match="failure 2"):
        policy.run("get_instance", policy.deadline(), failing(errors, calls))

    assert len(calls) == 3


def test_backoff_grows_with_jitter_between_base_and_max() -> None:
    clock = SleepLog()
    policy = RetryPolicy(settings(NOVITA_MAX_ATTEMPTS=8, NOVITA_RETRY_BUDGET_SECONDS=900), clock)
    calls: list[int] = []

    with pytest.raises(UpstreamError):
        policy.run("get_instance", policy.deadline(), failing([UpstreamError("x") for _ in range(8)], calls))

    assert len(clock.sleeps) == 7
    assert all(0.5 <= s <= 8.0 for s in clock.sleeps)
    for n, slept in enumerate(clock.sleeps, start=1):
        assert slept <= min(8.0, 0.5 * 2**n)


def test_other_exceptions_end_the_call_at_once() -> None:
    clock = SleepLog()
    policy = RetryPolicy(settings(), clock)
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        raise NotFound("gone")

    with pytest.raises(NotFound):
        policy.run("get_instance", policy.deadline(), attempt)

    assert len(calls) == 1
    assert clock.sleeps == []


def test_rate_limited_waits_at_least_retry_after() -> None:
    clock = SleepLog()
    policy = RetryPolicy(settings(), clock)
    calls: list[int] = []

    policy.run(
        "list_instances", policy.deadline(), failing([RateLimited("slow down", retry_after=5.0)], calls)
    )

    assert clock.sleeps[0] >= 5.0


def test_retry_after_past_the_deadline_raises_at_once() -> None:
    clock = SleepLog()
    policy = RetryPolicy(settings(NOVITA_RETRY_BUDGET_SECONDS=10), clock)
    calls: list[int] = []

    with pytest.raises(RateLimited) as raised:
        policy.run(
            "list_instances", policy.deadline(), failing([RateLimited("later", retry_after=60.0)], calls)
        )

    assert raised.value.retry_after == 60.0
    assert len(calls) == 1
    assert clock.sleeps == []


def test_no_sleep_ends_past_the_budget() -> None:
    clock = SleepLog()
    policy = RetryPolicy(
        settings(NOVITA_MAX_ATTEMPTS=10, NOVITA_RETRY_BASE_SECONDS=2, NOVITA_RETRY_BUDGET_SECONDS=5), clock
    )
    start = clock.now()
    calls: list[int] = []

    with pytest.raises(UpstreamError):
        policy.run("get_instance", policy.deadline(), failing([UpstreamError("x") for _ in range(10)], calls))

    assert clock.now() - start <= 5.0
    assert len(calls) < 10


def test_a_retry_refused_by_the_limiter_ends_with_the_error_that_caused_it() -> None:
    # An outage's retries that run out of rate-limit slots are still the outage (503), not a 429.
    clock = SleepLog()
    policy = RetryPolicy(settings(), clock)
    calls: list[int] = []
    outage = UpstreamError("Novita get_instance failed: 503", status=503)

    def attempt() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RetryAttempt(outage)
        raise RateLimitExhausted(next_slot_at=99.0, deadline=30.0, rate=1, burst=1, operation="get_instance")

    with pytest.raises(UpstreamError) as raised:
        policy.run("get_instance", policy.deadline(), attempt)

    assert raised.value is outage
    assert len(calls) == 2


def test_a_first_attempt_refused_by_the_limiter_stays_a_limiter_refusal() -> None:
    policy = RetryPolicy(settings(), SleepLog())

    def attempt() -> str:
        raise RateLimitExhausted(next_slot_at=99.0, deadline=30.0, rate=1, burst=1, operation="get_instance")

    with pytest.raises(RateLimitExhausted):
        policy.run("get_instance", policy.deadline(), attempt)
