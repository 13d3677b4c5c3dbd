from __future__ import annotations

import itertools

import pytest

from novita_orchestrator.workflow.polling import PollBounds, next_poll_delay

BOUNDS = PollBounds(min_seconds=2, max_seconds=60)


def poll_times(ready_at: float, history: list[float], deadline: float = 900) -> list[float]:
    """Simulate a poll loop; return the times polls happen until the first one at/after ready_at."""
    now, times = 0.0, list[float]()
    while now < deadline:
        delay = next_poll_delay(
            elapsed=now,
            polls_so_far=len(times),
            recent_durations=history,
            bounds=BOUNDS,
            remaining=deadline - now,
        )
        now += delay
        times.append(now)
        if now >= ready_at:
            break
    return times


def test_without_history_the_schedule_grows_exponentially_within_bounds() -> None:
    delays = [
        next_poll_delay(elapsed=0, polls_so_far=n, recent_durations=[], bounds=BOUNDS, remaining=1e9)
        for n in range(8)
    ]
    assert delays[:5] == [2, 4, 8, 16, 32]
    assert delays[5:] == [60, 60, 60]


def test_with_history_polls_are_sparse_early_and_dense_near_the_expected_time() -> None:
    history = [170.0, 175.0, 180.0, 185.0, 190.0]
    times = poll_times(ready_at=180, history=history)
    early = [t for t in times if t < 170]
    assert len(early) <= 6
    assert times[-1] - 180 <= 4  # the ready instance is noticed within the dense spacing
    assert len(times) <= 36 / 2  # half what a fixed 5 s schedule needs for a 180 s boot


def test_a_faster_than_usual_startup_is_caught_early() -> None:
    times = poll_times(ready_at=60, history=[170.0, 190.0])
    assert times[-1] < 100


def test_a_late_startup_backs_off_but_keeps_polling() -> None:
    times = poll_times(ready_at=400, history=[170.0, 190.0])
    assert times[-1] >= 400
    gaps = [b - a for a, b in itertools.pairwise(times) if a > 190]
    assert gaps == sorted(gaps)
    assert max(gaps) <= BOUNDS.max_seconds


@pytest.mark.parametrize("history", [[], [170.0, 190.0]])
def test_the_wait_never_passes_the_deadline(history: list[float]) -> None:
    delay = next_poll_delay(
        elapsed=10, polls_so_far=3, recent_durations=history, bounds=BOUNDS, remaining=1.5
    )
    assert delay == 1.5
