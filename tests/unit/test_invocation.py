"""Every function's work is bounded by its own invocation: what is left of it is what Novita calls and
health probes may take (a Lambda timeout matches no retrier, and API Gateway answers a bare 502)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from novita_orchestrator.clock import ScaledClock
from novita_orchestrator.invocation import (
    ANSWER_MARGIN_SECONDS,
    bounded_by_invocation,
    deadline_on,
    remaining_seconds,
)

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_handler_sees_its_remaining_time_less_the_margin_and_nothing_outside() -> None:
    seen: list[float | None] = []

    @bounded_by_invocation
    def handler(event: Any, context: Any) -> str:
        seen.append(remaining_seconds())
        return "answered"

    assert handler({}, Context(29_000)) == "answered"
    [left] = seen
    assert left is not None
    assert 29 - ANSWER_MARGIN_SECONDS - 1 < left <= 29 - ANSWER_MARGIN_SECONDS
    assert remaining_seconds() is None


def test_a_time_scaled_clock_gets_the_deadline_in_its_own_time() -> None:
    clock = ScaledClock(10)

    @bounded_by_invocation
    def handler(event: Any, context: Any) -> float | None:
        return deadline_on(clock)

    deadline = handler({}, Context(12_000))
    assert deadline is not None
    # 10 s of real time left = 100 s of the clock's.
    assert deadline - clock.now() == pytest.approx(100, abs=2)


@pytest.mark.parametrize("entry", sorted(FUNCTIONS.glob("*/app.py")), ids=lambda p: p.parent.name)
def test_every_function_handler_is_bounded_by_its_invocation(entry: Path) -> None:
    tree = ast.parse(entry.read_text(encoding="utf-8"))
    [handler] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "handler"]
    names = [ast.unparse(d) for d in handler.decorator_list]
    assert "bounded_by_invocation" in names, f"{entry}: decorate the handler with @bounded_by_invocation"
