"""How long to wait before the next status poll.

With a history of recent startups of the same product, poll sparsely while the instance cannot be
ready yet (halving the gap to the earliest expected ready time), densely across the range the
history spans, then back off. Without history, an exponential schedule between the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Polls spread across the range of recent startup durations (earliest .. latest).
DENSE_POLLS_ACROSS_RANGE = 5
LATE_BACKOFF_FACTOR = 1.5


@dataclass(frozen=True)
class PollBounds:
    min_seconds: float
    max_seconds: float

    def clamp(self, seconds: float) -> float:
        return min(self.max_seconds, max(self.min_seconds, seconds))


def next_poll_delay(
    *,
    elapsed: float,
    polls_so_far: int,
    recent_durations: Sequence[float],
    bounds: PollBounds,
    remaining: float,
) -> float:
    """Seconds to wait before the next poll.

    ``elapsed``: seconds since the start/create request; ``remaining``: seconds left before the
    operation's deadline (the wait never passes it, so the deadline is noticed on time).
    """
    if recent_durations:
        delay = _delay_from_history(elapsed, recent_durations, bounds)
    else:
        delay = bounds.clamp(bounds.min_seconds * (2**polls_so_far))
    return max(0.0, min(delay, remaining))


def _delay_from_history(elapsed: float, durations: Sequence[float], bounds: PollBounds) -> float:
    earliest, latest = min(durations), max(durations)
    spacing = bounds.clamp((latest - earliest) / DENSE_POLLS_ACROSS_RANGE)
    gap = earliest - elapsed
    if gap > 2 * spacing:
        # Far from ready: halve the gap, so a startup faster than history is still caught early.
        return bounds.clamp(gap / 2)
    if gap > 0:
        return gap  # land on the earliest expected ready time
    if elapsed <= latest:
        return spacing
    # Later than every recent startup: back off from the dense spacing.
    overdue_steps = (elapsed - latest) / spacing
    return bounds.clamp(spacing * LATE_BACKOFF_FACTOR ** max(1.0, overdue_steps))


def wait_seconds(delay: float) -> int:
    """Step Functions waits whole seconds: round up, and never 0 (a busy loop) unless told 0."""
    return max(1, math.ceil(delay - 1e-9)) if delay > 0 else 0
