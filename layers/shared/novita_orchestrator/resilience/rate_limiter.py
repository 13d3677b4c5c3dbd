"""A deployment-wide rate limiter: a token bucket kept as one number in a shared store.

The bucket is stored in its GCRA form (generic cell rate algorithm): a single *theoretical arrival
time* ``tat``. With ``interval = 1 / rate`` and ``tolerance = (burst - 1) * interval``, a request
may go at ``max(now, tat - tolerance)`` and moves ``tat`` to ``max(tat, now) + interval``. That is a
token bucket of capacity ``burst`` refilled at ``rate``/s, so any window of length ``T`` admits at
most ``burst + rate * T`` requests.

A caller *reserves* its slot with one conditional update and then sleeps until the slot, instead of
polling: one store write per admitted request, and no over-limit request is ever sent. If the slot
would come after the caller's deadline, the condition fails, nothing is reserved, and the caller
gets :class:`RateLimitExhausted` at once. ``tat`` never decreases, so the last value seen is a lower
bound on the stored one: a caller whose deadline is already out of reach gives up without a call.

A request's arrival time is read once, when it first asks; the store may apply its reservation a
round trip later, so the bound holds on arrival times with that round trip as slack (a fraction of a
token at Novita-like rates).

A 429 with ``Retry-After`` pushes ``tat`` so that no slot starts before the hold-back ends, for
every Lambda. Slots granted before the 429 was recorded still go out as scheduled (they were within
the configured rate); the hold applies to every reservation made after it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

from novita_orchestrator.clock import Clock
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.resilience.errors import RateLimitExhausted

# An "idle" guess refused means tat > arrival, so the queue reservation that follows cannot be refused
# for that reason again: two rounds settle every request; the bound only guards against a broken store.
MAX_RESERVE_ATTEMPTS = 4
#: Hold-back after a 429 that carries no Retry-After.
DEFAULT_HOLD_SECONDS = 1.0
#: A Retry-After longer than this is capped: a broken header must not freeze the deployment for days.
MAX_HOLD_SECONDS = 600.0


@dataclass(frozen=True)
class LimiterRecord:
    """The stored bucket. A missing item reads as idle (``tat`` 0)."""

    theoretical_arrival: float = 0.0
    hold_until: float = 0.0


@dataclass(frozen=True)
class Reservation:
    granted: bool
    #: After the update when granted; the stored record that refused it otherwise.
    record: LimiterRecord


class LimiterStore(Protocol):
    def load_limiter(self, name: str) -> LimiterRecord: ...

    def reserve_when_idle(self, name: str, *, now: float, interval: float) -> Reservation:
        """If ``tat <= now`` (or no record): set ``tat = now + interval``."""
        ...

    def reserve_after_queue(
        self, name: str, *, now: float, interval: float, latest_arrival: float
    ) -> Reservation:
        """If ``now < tat <= latest_arrival``: add ``interval`` to ``tat``."""
        ...

    def hold_back(self, name: str, *, until: float, arrival_floor: float) -> LimiterRecord:
        """Raise ``hold_until`` to ``until`` and ``tat`` to ``arrival_floor``, never lowering either."""
        ...


@dataclass(frozen=True)
class LimiterConfig:
    rate_per_second: float = 5.0
    burst: int = 10

    @property
    def interval(self) -> float:
        return 1.0 / self.rate_per_second

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval


class LimiterSnapshot(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str
    rate_per_second: float
    burst: int
    #: Requests that could go right now (0 .. burst).
    tokens: float
    #: When the next request could go (now, when tokens are left).
    next_slot_at: datetime
    #: Requests already holding a future slot.
    queued: int
    hold_back_until: datetime | None


class RateLimiter:
    def __init__(
        self, store: LimiterStore, clock: Clock, config: LimiterConfig, name: str = "novita"
    ) -> None:
        self.name = name
        self.config = config
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        # The stored tat as last seen: a hint for which reservation to try first. Only the store may
        # refuse a caller (an item that expired or was reset must not keep refusing from memory).
        self._known_tat = 0.0

    def _learn(self, record: LimiterRecord) -> None:
        with self._lock:
            self._known_tat = record.theoretical_arrival

    def acquire(self, deadline: float, operation: str = "") -> float:
        """Wait for a slot that starts no later than ``deadline``; return the slot's time.

        Raises :class:`RateLimitExhausted`, without reserving anything, if no slot is free in time.
        At most two store calls: the request's arrival time is taken once, when it first asks, so a
        refused "bucket is idle" guess always turns into a successful (contention-free) queue
        reservation, or an exhausted budget.
        """
        interval, tolerance = self.config.interval, self.config.tolerance
        arrival = self._clock.now()
        if arrival > deadline:
            self._exhausted(arrival, deadline, operation)
        with self._lock:
            tat = self._known_tat
        seen_in_store = False
        for _ in range(MAX_RESERVE_ATTEMPTS):
            if tat <= arrival:
                reservation = self._store.reserve_when_idle(self.name, now=arrival, interval=interval)
            else:
                if seen_in_store and tat - tolerance > deadline:
                    self._exhausted(tat - tolerance, deadline, operation)
                reservation = self._store.reserve_after_queue(
                    self.name, now=arrival, interval=interval, latest_arrival=deadline + tolerance
                )
            self._learn(reservation.record)
            if reservation.granted:
                slot = max(arrival, reservation.record.theoretical_arrival - interval - tolerance)
                self._wait_until(slot)
                return slot
            tat = reservation.record.theoretical_arrival
            seen_in_store = True
        # Unreachable with a store that keeps its promises (tat never decreases); refuse rather than spin.
        self._exhausted(max(arrival, tat - tolerance), deadline, operation)

    def _wait_until(self, moment: float) -> None:
        # Sleep can return a little early on some clocks; the slot must not be used before its time.
        while (remaining := moment - self._clock.now()) > 0:
            self._clock.sleep(remaining)

    def _exhausted(self, next_slot_at: float, deadline: float, operation: str) -> NoReturn:
        metrics.add_metric(name="RateLimitBudgetExhausted", unit=MetricUnit.Count, value=1)
        raise RateLimitExhausted(
            next_slot_at=next_slot_at,
            deadline=deadline,
            rate=self.config.rate_per_second,
            burst=self.config.burst,
            operation=operation,
        )

    def hold_back(self, retry_after: float | None) -> None:
        """Novita answered 429: no new slot for anyone in the deployment until ``retry_after`` has passed."""
        seconds = (
            DEFAULT_HOLD_SECONDS if retry_after is None else min(max(retry_after, 0.0), MAX_HOLD_SECONDS)
        )
        until = self._clock.now() + seconds
        # tat = until + tolerance puts the next slot at ``until`` and spaces the following ones by the
        # interval: traffic resumes at the configured rate, without a burst.
        record = self._store.hold_back(self.name, until=until, arrival_floor=until + self.config.tolerance)
        self._learn(record)
        logger.warning(
            "Novita rate limited us: holding back every caller",
            extra={"limiter": self.name, "hold_seconds": round(seconds, 3), "retry_after": retry_after},
        )
        metrics.add_metric(name="RateLimitHoldBacks", unit=MetricUnit.Count, value=1)

    def snapshot(self) -> LimiterSnapshot:
        """The stored bucket, read afresh (no writes)."""
        record = self._store.load_limiter(self.name)
        now = self._clock.now()
        interval, tolerance, burst = self.config.interval, self.config.tolerance, self.config.burst
        tat = record.theoretical_arrival
        tokens = min(float(burst), max(0.0, (now + tolerance + interval - tat) / interval))
        next_slot = max(now, tat - tolerance)
        return LimiterSnapshot(
            name=self.name,
            rate_per_second=self.config.rate_per_second,
            burst=burst,
            tokens=round(tokens, 3),
            next_slot_at=datetime.fromtimestamp(next_slot, UTC),
            queued=max(0, round((tat - tolerance - now) / interval)),
            hold_back_until=datetime.fromtimestamp(record.hold_until, UTC)
            if record.hold_until > now
            else None,
        )
