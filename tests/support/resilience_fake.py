"""An in-memory store with the same conditional semantics as the DynamoDB resilience adapter.

The integration tests run the same contract checks against both, so the fake cannot drift.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from novita_orchestrator.resilience.breaker import BreakerRecord, BreakerState
from novita_orchestrator.resilience.rate_limiter import LimiterRecord, Reservation


class InMemoryResilienceStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.breakers: dict[str, BreakerRecord] = {}
        self.limiters: dict[str, LimiterRecord] = {}
        self.calls = 0

    def _tick(self) -> None:
        self.calls += 1

    # --- breaker -------------------------------------------------------------------------------

    def load_breaker(self, name: str) -> BreakerRecord:
        with self._lock:
            self._tick()
            return self.breakers.get(name, BreakerRecord())

    def _closed_at(self, name: str, generation: int, window_started_at: float) -> BreakerRecord | None:
        record = self.breakers.get(name, BreakerRecord())
        if record.state is not BreakerState.CLOSED or record.generation != generation:
            return None
        if round(record.window_started_at, 3) != round(window_started_at, 3):
            return None
        return record

    def count_failure(
        self, name: str, *, generation: int, window_started_at: float, restart_window_at: float | None
    ) -> BreakerRecord | None:
        with self._lock:
            self._tick()
            record = self._closed_at(name, generation, window_started_at)
            if record is None:
                return None
            if restart_window_at is not None:
                record = replace(
                    record,
                    window_started_at=round(restart_window_at, 3),
                    window_failures=1,
                    window_successes=0,
                    consecutive_failures=record.consecutive_failures + 1,
                )
            else:
                record = replace(
                    record,
                    window_failures=record.window_failures + 1,
                    consecutive_failures=record.consecutive_failures + 1,
                )
            self.breakers[name] = record
            return record

    def count_success(self, name: str, *, generation: int, window_started_at: float) -> BreakerRecord | None:
        with self._lock:
            self._tick()
            record = self._closed_at(name, generation, window_started_at)
            if record is None:
                return None
            record = replace(record, consecutive_failures=0, window_successes=record.window_successes + 1)
            self.breakers[name] = record
            return record

    def admit_probe(self, name: str, *, generation: int, max_probes: int) -> BreakerRecord | None:
        with self._lock:
            self._tick()
            record = self.breakers.get(name, BreakerRecord())
            if (
                record.state is not BreakerState.HALF_OPEN
                or record.generation != generation
                or record.probes_admitted >= max_probes
            ):
                return None
            record = replace(record, probes_admitted=record.probes_admitted + 1)
            self.breakers[name] = record
            return record

    def count_probe_success(self, name: str, *, generation: int) -> BreakerRecord | None:
        with self._lock:
            self._tick()
            record = self.breakers.get(name, BreakerRecord())
            if record.state is not BreakerState.HALF_OPEN or record.generation != generation:
                return None
            record = replace(record, probe_successes=record.probe_successes + 1)
            self.breakers[name] = record
            return record

    def replace_breaker(
        self, name: str, *, expected_state: BreakerState, expected_generation: int, record: BreakerRecord
    ) -> bool:
        with self._lock:
            self._tick()
            current = self.breakers.get(name, BreakerRecord())
            if current.state is not expected_state or current.generation != expected_generation:
                return False
            self.breakers[name] = replace(record, window_started_at=round(record.window_started_at, 3))
            return True

    # --- limiter -------------------------------------------------------------------------------

    def load_limiter(self, name: str) -> LimiterRecord:
        with self._lock:
            self._tick()
            return self.limiters.get(name, LimiterRecord())

    def reserve_when_idle(self, name: str, *, now: float, interval: float) -> Reservation:
        with self._lock:
            self._tick()
            record = self.limiters.get(name)
            if record is not None and record.theoretical_arrival > now:
                return Reservation(granted=False, record=record)
            record = replace(record or LimiterRecord(), theoretical_arrival=now + interval)
            self.limiters[name] = record
            return Reservation(granted=True, record=record)

    def reserve_after_queue(
        self, name: str, *, now: float, interval: float, latest_arrival: float
    ) -> Reservation:
        with self._lock:
            self._tick()
            record = self.limiters.get(name, LimiterRecord())
            if not now < record.theoretical_arrival <= latest_arrival:
                return Reservation(granted=False, record=record)
            record = replace(record, theoretical_arrival=record.theoretical_arrival + interval)
            self.limiters[name] = record
            return Reservation(granted=True, record=record)

    def hold_back(self, name: str, *, until: float, arrival_floor: float) -> LimiterRecord:
        with self._lock:
            self.calls += 2
            record = self.limiters.get(name, LimiterRecord())
            record = LimiterRecord(
                theoretical_arrival=max(record.theoretical_arrival, arrival_floor),
                hold_until=max(record.hold_until, until),
            )
            self.limiters[name] = record
            return record
