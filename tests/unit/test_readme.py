"""The README stays true: the two commands up front and every setting the code reads documented."""

from __future__ import annotations

from pathlib import Path

from novita_orchestrator.settings import setting_names

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_two_commands_come_first() -> None:
    text = README.read_text(encoding="utf-8")
    first_screen = text[:1500]
    assert "make demo" in first_screen
    assert "make test" in first_screen


def test_every_setting_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in setting_names() if f"`{name}`" not in text]
    assert not missing, f"settings missing from README.md: {missing}"
