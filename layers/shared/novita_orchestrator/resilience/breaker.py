"""A circuit breaker for one upstream whose state lives in a shared store, so every Lambda agrees.

States: CLOSED (calls pass) → OPEN (calls refused until ``retry_at``) → HALF_OPEN (a bounded number
of probe calls) → CLOSED after enough probe successes, or OPEN again on any probe failure.

Every transition is a conditional write on ``(state, generation)``; the generation goes up by one
with each transition, so of many Lambdas that see the same threshold crossed, exactly one moves the
breaker and the others lose the race. Outcomes are credited to the generation in which the call was
admitted, so a failure of a call admitted before the breaker re-closed never counts against the new
CLOSED period.

Cost: in CLOSED, a call costs no store access beyond a cached read (at most one read per
``cache_seconds`` per process). Failures write; successes write only while the current window
holds failures (the failure rate is measured from the window's first failure) or a consecutive
count is running. Half-open probes write (their admission is the bound on probes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import NoReturn, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

from novita_orchestrator.clock import Clock
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.resilience.errors import BreakerOpen

# Lost races are retried with a fresh read; more than this many in a row means heavy contention on a
# state that is changing anyway, so the caller is refused rather than spun.
MAX_RACE_RETRIES = 5
#: The opening failure's text is kept this short (it rides on every refusal).
MAX_BECAUSE_LENGTH = 300


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True)
class BreakerRecord:
    """The shared state of one breaker, as stored. A missing item reads as the default (CLOSED, gen 0)."""

    state: BreakerState = BreakerState.CLOSED
    generation: int = 0
    consecutive_failures: int = 0
    window_started_at: float = 0.0
    window_failures: int = 0
    window_successes: int = 0
    #: OPEN: when probing may start. HALF_OPEN: when unanswered probes count as lost and new ones may go.
    retry_at: float = 0.0
    probes_admitted: int = 0
    probe_successes: int = 0
    #: How many times this breaker has opened (kept across transitions).
    opened_count: int = 0
    changed_at: float = 0.0
    #: OPEN: the failure that opened it, in a user's words (every refusal repeats it).
    opened_because: str = ""


class BreakerStore(Protocol):
    """Conditional operations on a breaker record. ``None`` means the condition failed: someone else
    changed the record first (a lost race), and nothing was written."""

    def load_breaker(self, name: str) -> BreakerRecord: ...

    def count_failure(
        self, name: str, *, generation: int, window_started_at: float, restart_window_at: float | None
    ) -> BreakerRecord | None:
        """If CLOSED at ``generation`` with that window start: add one consecutive and one window failure.

        With ``restart_window_at``, the window restarts there with this failure as its first.
        """
        ...

    def count_success(self, name: str, *, generation: int, window_started_at: float) -> BreakerRecord | None:
        """If CLOSED at ``generation`` with that window start: reset the consecutive count, add a success."""
        ...

    def admit_probe(self, name: str, *, generation: int, max_probes: int) -> BreakerRecord | None:
        """If HALF_OPEN at ``generation`` with fewer than ``max_probes`` admitted: admit one more."""
        ...

    def count_probe_success(self, name: str, *, generation: int) -> BreakerRecord | None:
        """If HALF_OPEN at ``generation``: add one probe success."""
        ...

    def replace_breaker(
        self, name: str, *, expected_state: BreakerState, expected_generation: int, record: BreakerRecord
    ) -> bool:
        """Write ``record`` whole if the stored state and generation are still the expected ones."""
        ...


@dataclass(frozen=True)
class BreakerConfig:
    consecutive_failures: int = 5
    failure_rate: float = 0.5
    min_calls: int = 10
    window_seconds: float = 60.0
    recovery_seconds: float = 30.0
    half_open_probes: int = 3
    #: At most ``half_open_probes``, or the breaker could never close (the settings check it).
    successes_to_close: int = 2
    cache_seconds: float = 1.0


@dataclass(frozen=True)
class BreakerTicket:
    """What the breaker said when it let a call through; the outcome is reported against it."""

    generation: int
    probe: bool


class BreakerSnapshot(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str
    state: BreakerState
    generation: int
    consecutive_failures: int
    window_failures: int
    window_successes: int
    window_started_at: datetime | None
    opened_count: int
    probes_admitted: int
    probe_successes: int
    #: When an OPEN breaker starts probing, or when a HALF_OPEN one's unanswered probes expire.
    next_retry_at: datetime | None
    changed_at: datetime | None


def _ms(epoch: float) -> float:
    # Stored times are milliseconds; rounding here makes the winner's copy equal to everyone's read.
    return round(epoch, 3)


def _moment(epoch: float) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch > 0 else None


class CircuitBreaker:
    def __init__(
        self, store: BreakerStore, clock: Clock, config: BreakerConfig, name: str = "novita"
    ) -> None:
        self.name = name
        self.config = config
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: BreakerRecord | None = None
        self._cached_at = 0.0

    # --- reading -------------------------------------------------------------------------------

    def _remember(self, record: BreakerRecord, now: float) -> None:
        with self._lock:
            current = self._cached
            # Concurrent threads can report out of order; never step back to an older generation.
            if current is None or record.generation >= current.generation:
                self._cached, self._cached_at = record, now

    def _forget(self) -> None:
        with self._lock:
            self._cached = None

    def _current(self, *, fresh: bool = False) -> BreakerRecord:
        now = self._clock.now()
        with self._lock:
            cached, cached_at = self._cached, self._cached_at
        if not fresh and cached is not None and 0 <= now - cached_at < self.config.cache_seconds:
            return cached
        record = self._store.load_breaker(self.name)
        with self._lock:
            self._cached, self._cached_at = record, now
        return record

    @staticmethod
    def _refusal(record: BreakerRecord, now: float, max_probes: int) -> BreakerOpen | None:
        if record.state is BreakerState.OPEN and now < record.retry_at:
            return BreakerOpen(retry_at=record.retry_at, now=now, because=record.opened_because)
        if (
            record.state is BreakerState.HALF_OPEN
            and record.probes_admitted >= max_probes
            and now < record.retry_at
        ):
            return BreakerOpen(retry_at=record.retry_at, now=now, half_open=True)
        return None

    def check(self, operation: str = "") -> None:
        """Refuse at once, from the cached state and without writing, if the breaker would refuse."""
        refusal = self._refusal(self._current(), self._clock.now(), self.config.half_open_probes)
        if refusal is not None:
            self._refused(refusal, operation)

    def _refused(self, refusal: BreakerOpen, operation: str) -> NoReturn:
        refusal.operation = operation
        metrics.add_metric(name="CircuitBreakerRejectedCalls", unit=MetricUnit.Count, value=1)
        raise refusal

    # --- admitting -----------------------------------------------------------------------------

    def admit(self, operation: str = "") -> BreakerTicket:
        """Let one call through (CLOSED, or as a probe) or raise :class:`BreakerOpen`."""
        for attempt in range(MAX_RACE_RETRIES):
            record = self._current(fresh=attempt > 0)
            now = self._clock.now()
            if record.state is BreakerState.CLOSED:
                return BreakerTicket(record.generation, probe=False)
            refusal = self._refusal(record, now, self.config.half_open_probes)
            if refusal is not None:
                self._refused(refusal, operation)
            if record.state is BreakerState.OPEN or record.probes_admitted >= self.config.half_open_probes:
                # Recovery time is up (or the last probes never answered): start a probe round with
                # this call as its first probe.
                half_open = BreakerRecord(
                    state=BreakerState.HALF_OPEN,
                    generation=record.generation + 1,
                    retry_at=_ms(now + self.config.recovery_seconds),
                    probes_admitted=1,
                    opened_count=record.opened_count,
                    changed_at=_ms(now),
                )
                reason = (
                    "recovery time elapsed" if record.state is BreakerState.OPEN else "probes went unanswered"
                )
                if self._transition(record, half_open, reason):
                    return BreakerTicket(half_open.generation, probe=True)
                continue
            admitted = self._store.admit_probe(
                self.name, generation=record.generation, max_probes=self.config.half_open_probes
            )
            if admitted is not None:
                self._remember(admitted, now)
                return BreakerTicket(admitted.generation, probe=True)
        now = self._clock.now()
        self._refused(BreakerOpen(retry_at=now + min(1.0, self.config.recovery_seconds), now=now), operation)

    # --- outcomes ------------------------------------------------------------------------------

    def record_success(self, ticket: BreakerTicket) -> None:
        now = self._clock.now()
        if ticket.probe:
            counted = self._store.count_probe_success(self.name, generation=ticket.generation)
            if counted is None:
                return  # the probe round already ended (another probe failed, or it closed)
            self._remember(counted, now)
            if counted.probe_successes >= self.config.successes_to_close:
                closed = BreakerRecord(
                    generation=counted.generation + 1, opened_count=counted.opened_count, changed_at=_ms(now)
                )
                self._transition(counted, closed, f"{counted.probe_successes} probe calls succeeded")
            return
        for attempt in range(2):
            record = self._current(fresh=attempt > 0)
            if record.state is not BreakerState.CLOSED or record.generation != ticket.generation:
                return
            if record.consecutive_failures == 0 and not self._window_active(record, now):
                return  # nothing to account for: healthy calls cost no write
            counted = self._store.count_success(
                self.name, generation=record.generation, window_started_at=record.window_started_at
            )
            if counted is not None:
                self._remember(counted, now)
                return

    def record_failure(self, ticket: BreakerTicket, because: str = "") -> None:
        """Count one retryable upstream failure (5xx, timeout, network) of a call admitted by ``ticket``;
        ``because`` says what it was (kept if this failure opens the breaker)."""
        now = self._clock.now()
        if ticket.probe:
            record = self._current()
            if record.generation != ticket.generation:
                record = self._current(fresh=True)
            if record.state is BreakerState.HALF_OPEN and record.generation == ticket.generation:
                self._transition(record, self._opened(record, now, because), "a probe call failed")
            return
        counted: BreakerRecord | None = None
        for attempt in range(MAX_RACE_RETRIES):
            record = self._current(fresh=attempt > 0)
            if record.state is not BreakerState.CLOSED or record.generation != ticket.generation:
                return  # admitted under an earlier generation: the breaker has moved on
            restart = not self._window_active(record, now)
            counted = self._store.count_failure(
                self.name,
                generation=record.generation,
                window_started_at=record.window_started_at,
                restart_window_at=now if restart else None,
            )
            if counted is not None:
                break
        if counted is None:
            return
        self._remember(counted, now)
        reason = self._trip_reason(counted)
        if reason is not None:
            self._transition(counted, self._opened(counted, now, because), reason)

    def _window_active(self, record: BreakerRecord, now: float) -> bool:
        return record.window_failures > 0 and now < record.window_started_at + self.config.window_seconds

    def _trip_reason(self, record: BreakerRecord) -> str | None:
        config = self.config
        if record.consecutive_failures >= config.consecutive_failures:
            return f"{record.consecutive_failures} consecutive upstream failures"
        calls = record.window_failures + record.window_successes
        if calls >= config.min_calls and record.window_failures / calls >= config.failure_rate:
            return f"{record.window_failures} of {calls} calls failed within {config.window_seconds:g} s"
        return None

    def _opened(self, record: BreakerRecord, now: float, because: str = "") -> BreakerRecord:
        return BreakerRecord(
            state=BreakerState.OPEN,
            generation=record.generation + 1,
            retry_at=_ms(now + self.config.recovery_seconds),
            opened_count=record.opened_count + 1,
            changed_at=_ms(now),
            opened_because=because[:MAX_BECAUSE_LENGTH],
        )

    def _transition(self, expected: BreakerRecord, new: BreakerRecord, reason: str) -> bool:
        won = self._store.replace_breaker(
            self.name, expected_state=expected.state, expected_generation=expected.generation, record=new
        )
        if not won:
            self._forget()  # someone else moved it: read afresh next time
            return False
        self._remember(new, self._clock.now())
        log = logger.warning if new.state is BreakerState.OPEN else logger.info
        log(
            "circuit breaker transition",
            extra={
                "breaker": self.name,
                "from_state": expected.state.value,
                "to_state": new.state.value,
                "generation": new.generation,
                "reason": reason,
                "retry_at": new.retry_at or None,
            },
        )
        metrics.add_metric(
            name=f"CircuitBreaker{new.state.value.title().replace('_', '')}", unit=MetricUnit.Count, value=1
        )
        return True

    # --- reporting -----------------------------------------------------------------------------

    def snapshot(self) -> BreakerSnapshot:
        """The stored state, read afresh (no cache, no writes)."""
        record = self._store.load_breaker(self.name)
        now = self._clock.now()
        active = self._window_active(record, now)
        return BreakerSnapshot(
            name=self.name,
            state=record.state,
            generation=record.generation,
            consecutive_failures=record.consecutive_failures,
            window_failures=record.window_failures if active else 0,
            window_successes=record.window_successes if active else 0,
            window_started_at=_moment(record.window_started_at) if active else None,
            opened_count=record.opened_count,
            probes_admitted=record.probes_admitted if record.state is BreakerState.HALF_OPEN else 0,
            probe_successes=record.probe_successes if record.state is BreakerState.HALF_OPEN else 0,
            next_retry_at=_moment(record.retry_at) if record.state is not BreakerState.CLOSED else None,
            changed_at=_moment(record.changed_at),
        )


__all__ = [
    "BreakerConfig",
    "BreakerOpen",
    "BreakerRecord",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStore",
    "BreakerTicket",
    "CircuitBreaker",
]
