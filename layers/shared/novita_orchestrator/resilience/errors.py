"""Errors the shared guard raises before a request reaches Novita.

Both are :class:`NovitaError` with ``retryable = False``: the client must not retry them, because
retrying would only hammer an open breaker or queue behind a budget that is already spent.
"""

from __future__ import annotations

from novita_orchestrator.novita.errors import NoRequestSlot, NovitaError
from novita_orchestrator.times import iso


def _rebuild(cls: type[NovitaError], args: tuple[object, ...], state: dict[str, object]) -> NovitaError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class _Picklable(NovitaError):
    """Keyword-only constructors defeat the default exception pickling (process pools, queues)."""

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuild, (type(self), self.args, dict(self.__dict__))


class BreakerOpen(_Picklable):
    """The Novita circuit breaker refuses calls until ``retry_at`` (epoch seconds)."""

    code = "BREAKER_OPEN"
    retryable = False

    def __init__(
        self,
        *,
        retry_at: float,
        now: float,
        operation: str = "",
        half_open: bool = False,
        because: str = "",
    ) -> None:
        why = (
            "the Novita circuit breaker is half-open and its probe calls are taken"
            if half_open
            else "the Novita circuit breaker is open after repeated upstream failures"
        )
        # What the failures were comes first: "cannot reach NOVITA_BASE_URL ...: connection refused".
        cause = f"{because}; " if because and not half_open else ""
        super().__init__(
            f"{cause}{why}; calls are refused until {iso(retry_at)} (in {max(0.0, retry_at - now):.1f} s)",
            operation=operation,
        )
        self.because = because
        self.retry_at = retry_at


class RateLimitExhausted(_Picklable, NoRequestSlot):
    """No Novita rate-limit slot is free before the caller's deadline; nothing was sent."""

    code = "RATE_LIMIT_BUDGET_EXHAUSTED"
    retryable = False

    def __init__(
        self, *, next_slot_at: float, deadline: float, rate: float, burst: int, operation: str = ""
    ) -> None:
        super().__init__(
            f"no Novita request slot before the caller's deadline {iso(deadline)}: the next free slot is at "
            f"{iso(next_slot_at)} (deployment limit {rate:g}/s, burst {burst})",
            operation=operation,
        )
        self.next_slot_at = next_slot_at


class StoreUnavailable(Exception):
    """The shared store (DynamoDB) could not be reached or refused the request for a reason other
    than a lost race. The guard then lets Novita calls through rather than stopping all traffic."""
