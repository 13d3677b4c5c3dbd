"""The README's walkthroughs work when pasted into a fresh shell (issue 15: 16): each block marked
``<!-- walkthrough: NAME -->`` runs in bash from the repository root, with only the shell's own
environment (no service settings), and must succeed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_cli import base_environment
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"<!-- walkthrough: ([\w-]+)[^>]*-->\s*```bash\n(.*?)```", re.S)


def walkthroughs() -> dict[str, str]:
    return dict(_BLOCK.findall((ROOT / "README.md").read_text()))


def test_the_readme_marks_its_walkthroughs() -> None:
    assert "one-operation" in walkthroughs()


def test_the_one_operation_walkthrough_runs_as_pasted() -> None:
    # Port 8080 may be taken on a shared machine: the one change made to the text.
    script = walkthroughs()["one-operation"].replace("8080", str(free_port()))
    # A failed line must not leave the block's background jobs running.
    script = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=ROOT,
        env=base_environment(),
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    operations = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(op["kind"], op["status"]) for op in operations] == [
        ("start", "ready"),
        ("create", "ready"),
        ("stop", "stopped"),
        ("delete", "deleted"),
    ], operations
