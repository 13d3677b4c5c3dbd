"""Wire the shared guard from settings: DynamoDB-backed when ``RESILIENCE_TABLE_NAME`` is set."""

from __future__ import annotations

from typing import Any, Protocol

from novita_orchestrator.clock import SYSTEM_CLOCK, Clock
from novita_orchestrator.novita.guard import CallGuard, NoGuard
from novita_orchestrator.resilience.breaker import BreakerConfig, BreakerStore, CircuitBreaker
from novita_orchestrator.resilience.guard import ResilienceSnapshot, ResilientGuard
from novita_orchestrator.resilience.rate_limiter import LimiterConfig, LimiterStore, RateLimiter
from novita_orchestrator.settings import ConfigurationError, Settings
from novita_orchestrator.store.resilience_store import DynamoResilienceStore, build_dynamodb_client


class ResilienceStore(BreakerStore, LimiterStore, Protocol):
    """One store holding both the breaker and the limiter (the DynamoDB table, or a fake)."""


def breaker_config(settings: Settings) -> BreakerConfig:
    if settings.BREAKER_SUCCESSES_TO_CLOSE > settings.BREAKER_HALF_OPEN_PROBES:
        raise ConfigurationError(
            f"BREAKER_SUCCESSES_TO_CLOSE ({settings.BREAKER_SUCCESSES_TO_CLOSE}) must not exceed "
            f"BREAKER_HALF_OPEN_PROBES ({settings.BREAKER_HALF_OPEN_PROBES}): the breaker could never close"
        )
    return BreakerConfig(
        consecutive_failures=settings.BREAKER_CONSECUTIVE_FAILURES,
        failure_rate=settings.BREAKER_FAILURE_RATE_THRESHOLD,
        min_calls=settings.BREAKER_MIN_CALLS,
        window_seconds=settings.BREAKER_WINDOW_SECONDS,
        recovery_seconds=settings.BREAKER_RECOVERY_SECONDS,
        half_open_probes=settings.BREAKER_HALF_OPEN_PROBES,
        successes_to_close=settings.BREAKER_SUCCESSES_TO_CLOSE,
        cache_seconds=settings.BREAKER_STATE_CACHE_SECONDS,
    )


def limiter_config(settings: Settings) -> LimiterConfig:
    return LimiterConfig(
        rate_per_second=settings.NOVITA_RATE_LIMIT_PER_SECOND, burst=settings.NOVITA_RATE_BURST
    )


def build_resilient_guard(
    settings: Settings, store: ResilienceStore, clock: Clock = SYSTEM_CLOCK
) -> ResilientGuard:
    """A guard over any store implementing both ports (DynamoDB in production, a fake in tests)."""
    return ResilientGuard(
        breaker=CircuitBreaker(store, clock, breaker_config(settings)),
        limiter=RateLimiter(store, clock, limiter_config(settings)),
    )


def build_guard(settings: Settings, clock: Clock = SYSTEM_CLOCK, *, dynamodb_client: Any = None) -> CallGuard:
    """The guard every Novita client should use.

    Without ``RESILIENCE_TABLE_NAME`` there is no shared state to keep, so this is :class:`NoGuard`
    (local runs and tests that do not exercise resilience).
    """
    if not settings.RESILIENCE_TABLE_NAME:
        return NoGuard()
    client = dynamodb_client if dynamodb_client is not None else build_dynamodb_client(settings)
    store = DynamoResilienceStore(client, settings.RESILIENCE_TABLE_NAME, clock)
    return build_resilient_guard(settings, store, clock)


def resilience_snapshot(guard: CallGuard) -> ResilienceSnapshot:
    """What ``GET /health`` shows: the shared breaker and limiter, or ``enabled: false`` without them."""
    if isinstance(guard, ResilientGuard):
        return guard.snapshot()
    return ResilienceSnapshot(enabled=False)
