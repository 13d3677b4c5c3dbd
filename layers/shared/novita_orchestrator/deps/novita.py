"""The Novita client and the shared guard (circuit breaker and rate limiter) in front of it."""

from __future__ import annotations

from typing import Protocol

from novita_orchestrator.clock import Clock
from novita_orchestrator.deps import Aws
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.guard import CallGuard, NoGuard
from novita_orchestrator.resilience.breaker import BreakerConfig, BreakerStore, CircuitBreaker
from novita_orchestrator.resilience.guard import ResilientGuard
from novita_orchestrator.resilience.rate_limiter import LimiterConfig, LimiterStore, RateLimiter
from novita_orchestrator.settings import NovitaSettings
from novita_orchestrator.store.resilience_store import DynamoResilienceStore


class ResilienceStore(BreakerStore, LimiterStore, Protocol):
    """One store holding both the breaker and the limiter (the DynamoDB table, or a fake)."""


def breaker_config(settings: NovitaSettings) -> BreakerConfig:
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


def limiter_config(settings: NovitaSettings) -> LimiterConfig:
    return LimiterConfig(
        rate_per_second=settings.NOVITA_RATE_LIMIT_PER_SECOND, burst=settings.NOVITA_RATE_BURST
    )


def resilient_guard(settings: NovitaSettings, store: ResilienceStore, clock: Clock) -> ResilientGuard:
    """A guard over any store keeping both (DynamoDB in production, a fake in tests)."""
    return ResilientGuard(
        breaker=CircuitBreaker(store, clock, breaker_config(settings)),
        limiter=RateLimiter(store, clock, limiter_config(settings)),
    )


def call_guard(settings: NovitaSettings, aws: Aws, clock: Clock) -> CallGuard:
    """The shared guard on RESILIENCE_TABLE_NAME; without a table there is no shared state: no guard."""
    if not settings.RESILIENCE_TABLE_NAME:
        return NoGuard()
    store = DynamoResilienceStore(
        aws.dynamodb(settings.DYNAMODB_ENDPOINT_URL), settings.RESILIENCE_TABLE_NAME, clock
    )
    return resilient_guard(settings, store, clock)


def novita_client(settings: NovitaSettings, aws: Aws, clock: Clock, guard: CallGuard) -> NovitaClient:
    """The client with its key: NOVITA_API_KEY, else read from NOVITA_API_KEY_SECRET_ARN (now, at init)."""
    api_key = settings.novita_api_key()
    if api_key is None and settings.NOVITA_API_KEY_SECRET_ARN:
        api_key = aws.secret(
            settings.NOVITA_API_KEY_SECRET_ARN,
            max_age=settings.NOVITA_API_KEY_CACHE_SECONDS,
            setting="NOVITA_API_KEY_SECRET_ARN",
        )
    return NovitaClient(settings, api_key=api_key, guard=guard, clock=clock)


def guarded_novita_client(settings: NovitaSettings, aws: Aws, clock: Clock) -> NovitaClient:
    """The client behind its own shared guard (each workflow step; the API shares one with GET /health)."""
    return novita_client(settings, aws, clock, call_guard(settings, aws, clock))
