"""The time left in this Lambda invocation: what every Novita call and health probe must fit in.

A Lambda that runs past its timeout is killed with ``Sandbox.Timedout``: no Catch of ours sees our
own error, and API Gateway answers a bare 502/504 after 29 s. So each handler runs under
:func:`bounded_by_invocation`, which records the invocation's deadline (the context's
``get_remaining_time_in_millis`` minus :data:`ANSWER_MARGIN_SECONDS`, the time left to log and answer)
in a context variable of the handler's thread; the Novita client's time budget and CheckHealth's
probing are cut to what is left. A function's budget is so derived from its own ``Timeout`` in the
template, never set per function. Outside an invocation (tests, the CLI) nothing is cut.

Remaining time is real time; on time-scaled local runs (TIME_SCALE) a :class:`ScaledClock` runs
faster, so :func:`deadline_on` converts it to that clock's time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from novita_orchestrator.clock import Clock, ScaledClock

#: Kept back from the invocation's remaining time: logging, the metrics flush and the answer.
ANSWER_MARGIN_SECONDS = 2.0

_DEADLINE: ContextVar[float | None] = ContextVar("novita_orchestrator_invocation_deadline", default=None)

F = TypeVar("F", bound=Callable[..., Any])


class RemainingTime(Protocol):
    """What a Lambda context offers for this (the runtime's object, or the local engine's)."""

    def get_remaining_time_in_millis(self) -> int: ...


@contextmanager
def invocation_deadline(remaining_seconds: float) -> Iterator[None]:
    """Run the block as an invocation with ``remaining_seconds`` (real time) left, margin included."""
    token = _DEADLINE.set(time.monotonic() + max(0.0, remaining_seconds - ANSWER_MARGIN_SECONDS))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def bounded_by_invocation(handler: F) -> F:
    """A handler ``(event, context)`` whose Novita calls and probes end before its own timeout."""

    @functools.wraps(handler)
    def bounded(event: Any, context: RemainingTime, *args: Any, **kwargs: Any) -> Any:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:  # a context without the method (a test's stand-in): nothing to bound
            return handler(event, context, *args, **kwargs)
        with invocation_deadline(remaining() / 1000):
            return handler(event, context, *args, **kwargs)

    return bounded  # type: ignore[return-value]


def remaining_seconds() -> float | None:
    """Real seconds left for work in this invocation (never negative); None outside one."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def clock_scale(clock: Clock) -> float:
    """How many of ``clock``'s seconds pass in one real second."""
    return clock.scale if isinstance(clock, ScaledClock) else 1.0


def deadline_on(clock: Clock) -> float | None:
    """The invocation's deadline in ``clock``'s time; None outside an invocation."""
    left = remaining_seconds()
    return None if left is None else clock.now() + left * clock_scale(clock)
