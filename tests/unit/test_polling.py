from __future__ import annotations

import itertools

import pytest

from novita_orchestrator.workflow.polling import (
    PRIOR_MEDIAN_SECONDS,
    PollBounds,
    Schedule,
    StartupModel,
    next_health_check_delay,
    next_poll_delay,
    wait_seconds,
)

BOUNDS = PollBounds(min_seconds=5, max_seconds=60)
TIGHT_HISTORY = [170.0, 175.0, 180.0, 185.0, 190.0]


def poll_times(
    ready_at: float,
    history: list[float],
    *,
    bounds: PollBounds = BOUNDS,
    schedule: Schedule = "adaptive",
    deadline: float = 1800,
) -> list[float]:
    """The poll loop as the state machine runs it (a first poll at once, whole-second waits): the
    times of the polls until the first one at or after ``ready_at``."""
    now, times = 0.0, [0.0]
    while now < ready_at and now < deadline:
        delay = next_poll_delay(
            elapsed=now,
            polls_so_far=len(times) - 1,
            recent_durations=history,
            bounds=bounds,
            remaining=deadline - now,
            window=deadline,
            schedule=schedule,
        )
        now += wait_seconds(delay)
        times.append(now)
    return times


def gaps(times: list[float], after: float = 0.0, before: float = float("inf")) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times) if after <= a < before]


def test_a_first_start_polls_sparsely_at_first_then_about_every_ten_seconds() -> None:
    times = poll_times(ready_at=300, history=[])
    assert times[1] >= 20  # no GPU instance is running a few seconds after its start
    assert max(gaps(times, after=60, before=240)) <= 12
    assert len(times) <= 300 / 5 / 2 + 5  # about half what a fixed 5 s schedule needs


def test_a_first_start_still_notices_a_fast_instance() -> None:
    times = poll_times(ready_at=15, history=[])
    assert times[-1] - 15 <= 10


def test_with_history_polls_are_sparse_early_and_dense_near_the_expected_time() -> None:
    times = poll_times(ready_at=180, history=TIGHT_HISTORY)
    assert len([t for t in times if t < 150]) <= 6
    assert max(gaps(times, after=160, before=200)) <= 7
    assert times[-1] - 180 <= 6  # the ready instance is noticed within the dense spacing
    assert len(times) <= 36 / 2  # half what a fixed 5 s schedule needs for a 180 s boot


def test_history_moves_the_dense_polls_to_where_the_product_usually_runs() -> None:
    slow_product = [340.0, 350.0, 360.0, 370.0, 380.0]
    with_history = poll_times(ready_at=360, history=slow_product)
    first_start = poll_times(ready_at=360, history=[])
    assert len(with_history) <= len(first_start) / 2
    assert len([t for t in with_history if t < 240]) <= 7


def test_a_faster_than_usual_startup_is_caught_early() -> None:
    times = poll_times(ready_at=60, history=TIGHT_HISTORY)
    assert times[-1] < 100


def test_a_late_startup_backs_off_but_keeps_polling() -> None:
    times = poll_times(ready_at=600, history=TIGHT_HISTORY)
    assert times[-1] >= 600
    late = gaps(times, after=190)
    assert late == sorted(late)
    assert late[-1] > 2 * late[0]
    assert max(late) <= BOUNDS.max_seconds


def test_one_earlier_startup_is_a_hint_not_a_certainty() -> None:
    # One startup at 120 s: an instance ready at 200 s is still seen within a dense gap.
    times = poll_times(ready_at=200, history=[120.0])
    assert times[-1] - 200 <= 12


def test_the_exponential_schedule_doubles_from_the_minimum_and_ignores_history() -> None:
    delays = [
        next_poll_delay(
            elapsed=0,
            polls_so_far=n,
            recent_durations=TIGHT_HISTORY,
            bounds=PollBounds(2, 60),
            remaining=1e9,
            window=1800,
            schedule="exponential",
        )
        for n in range(8)
    ]
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60]


@pytest.mark.parametrize("schedule", ["adaptive", "exponential"])
@pytest.mark.parametrize("history", [[], TIGHT_HISTORY])
def test_equal_bounds_make_a_fixed_interval(schedule: Schedule, history: list[float]) -> None:
    times = poll_times(ready_at=200, history=history, bounds=PollBounds(10, 10), schedule=schedule)
    assert set(gaps(times)) == {10}


@pytest.mark.parametrize("history", [[], TIGHT_HISTORY])
def test_the_wait_never_passes_the_deadline(history: list[float]) -> None:
    delay = next_poll_delay(
        elapsed=10, polls_so_far=3, recent_durations=history, bounds=BOUNDS, remaining=1.5, window=1800
    )
    assert delay == 1.5


@pytest.mark.parametrize("elapsed", [0.0, 30.0, 175.0, 900.0, 5000.0])
def test_every_adaptive_wait_is_within_the_bounds(elapsed: float) -> None:
    for history in ([], TIGHT_HISTORY, [1.0, 1.0], [86_000.0]):
        delay = next_poll_delay(
            elapsed=elapsed,
            polls_so_far=0,
            recent_durations=history,
            bounds=BOUNDS,
            remaining=1e9,
            window=1800,
        )
        assert BOUNDS.min_seconds <= delay <= BOUNDS.max_seconds


def test_a_first_start_assumes_the_prior_median() -> None:
    model = StartupModel.from_history([])
    assert model.survival(PRIOR_MEDIAN_SECONDS) == pytest.approx(0.5)
    assert model.survival(10) > model.survival(100) > model.survival(1000)


def test_an_unhealthy_app_is_probed_again_after_the_interval_or_at_the_deadline() -> None:
    assert next_health_check_delay(interval=2, remaining=100, window=1800) == 2
    assert next_health_check_delay(interval=2, remaining=0.5, window=1800) == 0.5
    assert next_health_check_delay(interval=2, remaining=-1, window=1800) == 0


def test_a_long_operation_waits_longer_between_rounds_so_its_history_fits() -> None:
    # 24 h: ~1,200 rounds at most (tests/unit/test_history_budget.py); 30 min keeps short waits.
    assert next_health_check_delay(interval=1, remaining=1e5, window=86_400) == pytest.approx(73.44)
    assert next_health_check_delay(interval=2, remaining=1e5, window=1800) == 2
    delay = next_poll_delay(
        elapsed=0, polls_so_far=0, recent_durations=[], bounds=PollBounds(1, 1), remaining=1e5, window=86_400
    )
    assert delay == pytest.approx(73.44)
