"""Time as a collaborator, so logic can be tested with a fake clock instead of sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall clock: shared state in DynamoDB is compared across hosts)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """Wall-clock time running ``scale`` times faster from a fixed anchor (local, time-scaled runs).

    Every ScaledClock in a process shares the default anchor (the time this module was imported), so
    Lambdas that build their clocks at different moments still agree on the time.
    """

    def __init__(self, scale: float, anchor: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.scale = scale
        self._anchor = _PROCESS_ANCHOR if anchor is None else anchor

    def now(self) -> float:
        return self._anchor + (time.time() - self._anchor) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)


_PROCESS_ANCHOR = time.time()
SYSTEM_CLOCK = SystemClock()


def time_scale_of(clock: Clock) -> float:
    """How many of ``clock``'s seconds pass per real second (1 but on time-scaled local runs)."""
    return clock.scale if isinstance(clock, ScaledClock) else 1.0


def clock_for_scale(scale: float) -> Clock:
    """The system clock, or a :class:`ScaledClock` when local runs speed time up."""
    return SYSTEM_CLOCK if scale == 1 else ScaledClock(scale)
