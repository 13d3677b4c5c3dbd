"""The Makefile as a new user meets it: `make help`, and any Python >= 3.11 found on PATH (issue 15: 16)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What make and the recipes run, without any Python of the machine's.
_TOOLS = ("make", "grep", "awk", "sh", "bash", "env", "sed", "test")


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    if path is not None:
        environment["PATH"] = path
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def bin_with(tmp_path: Path, python: str | None) -> str:
    """A PATH directory holding the shell tools and, as `python3`, the given interpreter only."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for tool in _TOOLS:
        found = shutil.which(tool)
        if found:
            (directory / tool).symlink_to(found)
    if python is not None:
        (directory / "python3").symlink_to(python)
    return str(directory)


def test_make_help_lists_the_targets() -> None:
    result = make("help")

    assert result.returncode == 0, result.stderr
    for target in ("install", "check", "test", "demo", "bench", "clean"):
        assert f"  make {target} " in result.stdout


def test_any_python_of_3_11_or_later_is_found_under_any_name(tmp_path: Path) -> None:
    result = make("help", path=bin_with(tmp_path, sys.executable))  # e.g. only `python3`, no python3.11

    assert result.returncode == 0, result.stderr
    assert f"Python for the venv: {tmp_path / 'bin' / 'python3'}" in result.stdout


def test_without_a_python_of_3_11_the_venv_step_says_what_to_do(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = make(f"{venv}/bin/python", f"VENV={venv}", path=bin_with(tmp_path, None))

    assert result.returncode != 0
    assert "no Python >= 3.11 found on PATH" in result.stderr
    assert "PYTHON=/path/to/python3.11+" in result.stderr
