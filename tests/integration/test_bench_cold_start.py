"""``make bench``'s cold start runs every function: each entry with a first event of its own kind.

A function added without one used to stop the whole benchmark ("no first event for ..."); one run
each here (no figure is judged: speed is measured by ``make bench``, not asserted in tests).
"""

from __future__ import annotations

from pathlib import Path

from tests.bench import bench_cold_start

FUNCTIONS = sorted(path.parent.name for path in (Path(__file__).parents[2] / "functions").glob("*/app.py"))


def test_the_cold_start_bench_measures_every_function_and_each_library_floor() -> None:
    figures = bench_cold_start.measure(repeats=1)

    assert sorted(figures["per_function"]) == FUNCTIONS
    assert sorted(figures["where"]) == FUNCTIONS
    assert all(figure > 0 for figure in figures["init_per_function"].values())
    assert sorted(figures["library_floor"]) == ["api", "step"]
    assert figures["library_floor"]["step"] < figures["library_floor"]["api"]
