"""The shared guard the Novita client calls around every HTTP attempt: breaker first, then limiter."""

from __future__ import annotations

import threading
from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

from novita_orchestrator.novita.errors import NovitaError, RateLimited
from novita_orchestrator.novita.guard import CallGuard
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.resilience.breaker import BreakerSnapshot, BreakerTicket, CircuitBreaker
from novita_orchestrator.resilience.errors import BreakerOpen, RateLimitExhausted, StoreUnavailable
from novita_orchestrator.resilience.rate_limiter import LimiterSnapshot, RateLimiter


class ResilienceSnapshot(BaseModel):
    """Read-only view of the shared breaker and limiter (for ``GET /health``)."""

    model_config = ConfigDict(defer_build=True)

    enabled: bool
    breaker: BreakerSnapshot | None = None
    rate_limiter: LimiterSnapshot | None = None


class ResilientGuard:
    """Satisfies :class:`novita_orchestrator.novita.guard.CallGuard` with a shared breaker and limiter.

    Order in ``before_request``: a cached breaker check (an open breaker refuses without any write
    and without using a rate slot), then the rate slot (may wait up to the deadline), then breaker
    admission (a conditional write only when probing). The ticket of an admitted attempt is kept per
    thread, so ``on_success`` / ``on_failure`` credit the outcome to the right breaker generation.

    If DynamoDB itself fails, the guard fails *open*: the Novita call goes ahead (Novita's own 429s
    and the client's retry budget still apply), logged and counted as ``ResilienceStoreErrors``;
    stopping every Novita call because the bookkeeping table hiccuped would be the worse outage.
    """

    def __init__(self, breaker: CircuitBreaker, limiter: RateLimiter) -> None:
        self.breaker = breaker
        self.limiter = limiter
        self._attempt = threading.local()

    def before_request(self, operation: str, deadline: float) -> None:
        self._attempt.ticket = None
        try:
            self.breaker.check(operation)
            self.limiter.acquire(deadline, operation)
            self._attempt.ticket = self.breaker.admit(operation)
        except StoreUnavailable as exc:
            self._store_failed(exc, operation)

    @staticmethod
    def _store_failed(exc: StoreUnavailable, operation: str) -> None:
        logger.warning(
            "resilience store unavailable: letting the Novita call through",
            extra={"operation": operation, "error": str(exc)},
        )
        metrics.add_metric(name="ResilienceStoreErrors", unit=MetricUnit.Count, value=1)

    def _record(self, operation: str, action: Callable[[], None]) -> None:
        try:
            action()
        except StoreUnavailable as exc:  # never let bookkeeping hide the call's real outcome
            self._store_failed(exc, operation)

    def _take_ticket(self) -> BreakerTicket | None:
        ticket: BreakerTicket | None = getattr(self._attempt, "ticket", None)
        self._attempt.ticket = None
        return ticket

    def on_success(self, operation: str) -> None:
        ticket = self._take_ticket()
        if ticket is not None:
            self._record(operation, lambda: self.breaker.record_success(ticket))

    def on_failure(self, operation: str, error: NovitaError) -> None:
        ticket = self._take_ticket()
        if isinstance(error, BreakerOpen | RateLimitExhausted):
            return  # our own refusals: nothing reached Novita
        if isinstance(error, RateLimited):
            retry_after = error.retry_after
            self._record(operation, lambda: self.limiter.hold_back(retry_after))
        if ticket is None:
            return
        if error.upstream_failure:
            self._record(operation, lambda: self.breaker.record_failure(ticket, because=error.message))
        else:
            # Novita answered (a 4xx business error, a 429, an odd body): it is up, which is what the
            # breaker tracks. Not-found storms therefore never open it.
            self._record(operation, lambda: self.breaker.record_success(ticket))

    def snapshot(self) -> ResilienceSnapshot:
        return ResilienceSnapshot(
            enabled=True, breaker=self.breaker.snapshot(), rate_limiter=self.limiter.snapshot()
        )


def resilience_snapshot(guard: CallGuard) -> ResilienceSnapshot:
    """What ``GET /health`` shows: the shared breaker and limiter, or ``enabled: false`` without them."""
    if isinstance(guard, ResilientGuard):
        return guard.snapshot()
    return ResilienceSnapshot(enabled=False)
