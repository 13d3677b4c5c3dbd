"""docs/ARCHITECTURE.md's pictures match the code they are drawn from (``make docs`` redraws them)."""

from __future__ import annotations

from pathlib import Path

from novita_local.diagrams import generated_blocks, with_blocks

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"


def test_the_architecture_pictures_are_up_to_date() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert with_blocks(text, generated_blocks()) == text, "run `make docs`: the diagrams are stale"


def test_the_state_machine_picture_shows_every_state_and_its_catches() -> None:
    chart = generated_blocks()["state-machine"]
    for state in ("ResolveTarget", "PollStatus", "CheckHealth", "FinishFailed", "Ready", "Failed"):
        assert f"\n    {state}" in chart, state
    assert '-. "States.ALL" .-> MarkFailed' in chart
    assert '-- "poll.outcome = running" --> CheckHealth' in chart
