"""How long to wait before the next status poll, and before the next health probe.

The adaptive schedule treats the time a startup takes (request -> ``running``) as a distribution:
one log-normal kernel per recent startup of the same product, plus a broad prior worth one startup,
which is all a product's first start has. Each wait is the longest, within the bounds, whose
expected share of the delay in noticing ``running`` (given that the instance is not running yet)
stays within ``EXPECTED_DELAY_PER_WAIT_SECONDS``. So polls are sparse where a startup rarely ends
(the first seconds, far in the tail) and dense where it often does, and a product whose startups
change is still followed: the prior and the kernels' width leave some probability everywhere.

The ``exponential`` schedule ignores history: the minimum, doubled on every poll, up to the maximum.
With ``POLL_MIN_SECONDS`` = ``POLL_MAX_SECONDS`` either schedule is a fixed interval.

Both loops also keep within Step Functions' history: an execution holds at most 25,000 events, and
one more fails it outright (no Catch runs, no failure notification, the lock stays held). Each
wait, of a poll or of a health check, is at least :func:`shortest_round_seconds` of the operation's
whole window, so however long ``STARTUP_TIMEOUT_SECONDS`` is, its rounds fit: a 1800 s operation
is not slowed (1.5 s), a 24 h one waits at least 73 s between rounds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Schedule = Literal["adaptive", "exponential"]
SCHEDULES: tuple[Schedule, ...] = ("adaptive", "exponential")

#: The budget of each wait: its expected contribution, in seconds, to the time between the instance
#: running and a poll seeing it. Lower polls more. Chosen with ``make bench`` (docs/BENCHMARKS.md): on a
#: 2-minute log-normal spread of startups, a p90 ready delay under 5 s at under half the status calls
#: of a fixed 5 s poll.
EXPECTED_DELAY_PER_WAIT_SECONDS = 0.46
#: What a first start assumes: GPU instances take from well under a minute (cached image) to several
#: minutes (pulled image). Log-normal, median 90 s, sigma 0.9: 90 % between about 20 s and 6 min.
PRIOR_MEDIAN_SECONDS = 90.0
PRIOR_SIGMA = 0.9
#: The prior counts as this many recent startups once there is history.
PRIOR_WEIGHT = 1.0
#: Narrowest kernel (log-seconds) around one recent startup: five equal durations say "about this
#: long", not "exactly this long" (0.15 is about +/- 30 % at two sigma).
KERNEL_SIGMA_FLOOR = 0.15
#: Step Functions' limit on an execution's history (events); one more fails the execution.
HISTORY_EVENT_LIMIT = 25_000
#: Events one round of a waiting loop (a poll, or a health check) writes at most, its retries aside:
#: tests/unit/test_history_budget.py derives it from every loop of every state machine.
EVENTS_PER_ROUND = 17
#: Kept for what is not a round: the states before and after the loops, retried attempts, the
#: notifications of phase changes (the same test checks the states outside the loops fit in half).
HISTORY_EVENTS_RESERVED = 5_000
#: The expected delay of a candidate wait is integrated in at most this many steps (>= 1 s each).
_INTEGRATION_STEPS = 120


@dataclass(frozen=True)
class PollBounds:
    min_seconds: float
    max_seconds: float

    def clamp(self, seconds: float) -> float:
        return min(self.max_seconds, max(self.min_seconds, seconds))


def shortest_round_seconds(window: float) -> float:
    """The shortest wait between two rounds of an operation ``window`` seconds long (deadline minus
    start) that keeps all its rounds within the history's events."""
    return max(0.0, window) * EVENTS_PER_ROUND / (HISTORY_EVENT_LIMIT - HISTORY_EVENTS_RESERVED)


def next_poll_delay(
    *,
    elapsed: float,
    polls_so_far: int,
    recent_durations: Sequence[float],
    bounds: PollBounds,
    remaining: float,
    window: float,
    schedule: Schedule = "adaptive",
) -> float:
    """Seconds to wait before the next poll.

    ``elapsed``: seconds since the start/create request; ``recent_durations``: seconds from request to
    ``running`` of recent startups of the same product; ``remaining``: seconds left before the
    operation's deadline (the wait never passes it, so the deadline is noticed on time); ``window``:
    the operation's whole time (deadline minus start), which sets the shortest wait.
    """
    if bounds.min_seconds >= bounds.max_seconds:
        delay = bounds.min_seconds
    elif schedule == "exponential":
        delay = bounds.clamp(bounds.min_seconds * 2 ** min(polls_so_far, 64))
    else:
        delay = _adaptive_delay(elapsed, StartupModel.from_history(recent_durations), bounds)
    return max(0.0, min(max(delay, shortest_round_seconds(window)), remaining))


def still_booting_probability(*, elapsed: float, wait: float, recent_durations: Sequence[float]) -> float:
    """How likely an instance not running ``elapsed`` seconds after the request still is not running
    ``wait`` seconds later, by the same startup model the adaptive schedule uses."""
    model = StartupModel.from_history(recent_durations)
    alive = model.survival(elapsed)
    return 1.0 if alive <= 0 else min(1.0, model.survival(elapsed + wait) / alive)


def next_health_check_delay(*, interval: float, remaining: float, window: float) -> float:
    """Seconds before probing an unhealthy app again: the interval (at least the shortest wait of an
    operation ``window`` seconds long), cut short at the deadline."""
    return max(0.0, min(max(interval, shortest_round_seconds(window)), remaining))


@dataclass(frozen=True)
class _Kernel:
    weight: float
    log_median: float
    sigma: float

    def survival(self, seconds: float) -> float:
        if seconds <= 0:
            return 1.0
        z = (math.log(seconds) - self.log_median) / self.sigma
        return 0.5 * math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class StartupModel:
    """The distribution of a product's startup duration: a weighted mixture of log-normals."""

    kernels: tuple[_Kernel, ...]

    @classmethod
    def from_history(cls, durations: Sequence[float]) -> StartupModel:
        prior = _Kernel(1.0, math.log(PRIOR_MEDIAN_SECONDS), PRIOR_SIGMA)
        logs = [math.log(max(1.0, d)) for d in durations]
        if not logs:
            return cls((prior,))
        if len(logs) == 1:
            sigma = PRIOR_SIGMA  # one startup says where, not how widely startups spread
        else:
            # Silverman's rule of thumb for the kernels' width, on the log durations.
            sigma = max(KERNEL_SIGMA_FLOOR, 1.06 * statistics.stdev(logs) * len(logs) ** -0.2)
        kernels = tuple(_Kernel(1.0, log, sigma) for log in logs)
        return cls((*kernels, _Kernel(PRIOR_WEIGHT, prior.log_median, prior.sigma)))

    def survival(self, seconds: float) -> float:
        """Probability that a startup takes longer than ``seconds``."""
        total = sum(k.weight for k in self.kernels)
        return sum(k.weight * k.survival(seconds) for k in self.kernels) / total

    def longest_wait_within(self, elapsed: float, *, longest: float, budget: float) -> float:
        """The longest wait (<= ``longest``; 0 if even 1 s is too long) after which a poll's expected
        delay in seeing ``running`` stays within ``budget`` seconds, given no ``running`` by
        ``elapsed``. That delay is the integral, over the wait, of P(running by then | not yet)."""
        alive = self.survival(elapsed)
        if alive <= 0:
            return longest
        step = max(1.0, longest / _INTEGRATION_STEPS)
        wait, expected, previous, chosen = 0.0, 0.0, 0.0, 0.0
        while wait < longest:
            width = min(step, longest - wait)
            wait += width
            ended = 1.0 - self.survival(elapsed + wait) / alive
            expected += (previous + ended) / 2 * width  # trapezoids
            if expected > budget:
                break
            previous, chosen = ended, wait
        return chosen


def _adaptive_delay(elapsed: float, model: StartupModel, bounds: PollBounds) -> float:
    wait = model.longest_wait_within(
        elapsed, longest=bounds.max_seconds, budget=EXPECTED_DELAY_PER_WAIT_SECONDS
    )
    return bounds.clamp(wait)


def wait_seconds(delay: float) -> int:
    """Step Functions waits whole seconds: round up, and never 0 (a busy loop) unless told 0."""
    return max(1, math.ceil(delay - 1e-9)) if delay > 0 else 0
