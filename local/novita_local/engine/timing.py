"""Scale the state machine's own waiting: Wait states and the pauses between Retry attempts.

moto's interpreter waits in two places: ``WaitFunction._wait_interval`` (every Wait state: Seconds,
SecondsPath, Timestamp, TimestampPath) and ``time.sleep`` in ``RetrierDecl`` (Retry IntervalSeconds
with BackoffRate / MaxDelaySeconds / JitterStrategy already applied). Both are replaced for the
engine's lifetime; a scale of 0.01 turns a 30 s Wait into 0.3 s. Task TimeoutSeconds and
HeartbeatSeconds are not scaled: the handlers' own work takes real time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction


class _ScaledSleep:
    """Stands in for the ``time`` module inside moto's retrier, which only calls ``sleep``."""

    def __init__(self, scale: float) -> None:
        self._scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds * self._scale))


@contextmanager
def scaled_waits(scale: float) -> Iterator[None]:
    if scale < 0:
        raise ValueError("wait_scale must be >= 0")
    # Typed as Any: these are monkey patches of moto internals, undone on exit.
    wait_function: Any = WaitFunction
    retrier_module: Any = retrier_decl
    original_wait = wait_function.__dict__["_wait_interval"]
    original_time = retrier_module.time

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        # Same contract as moto's: wait, but wake up early when the execution stops.
        deadline = time.monotonic() + wait_seconds * scale
        while env.is_running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            env.program_state_event.wait(remaining)

    wait_function._wait_interval = wait_interval
    retrier_module.time = _ScaledSleep(scale)
    try:
        yield
    finally:
        wait_function._wait_interval = original_wait
        retrier_module.time = original_time
