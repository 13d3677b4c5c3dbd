"""The committed-key check of ``make check`` (tools/check_no_keys.py): it flags each key shape and
passes fake test values; the repository itself is clean."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_no_keys", ROOT / "tools" / "check_no_keys.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_no_keys"] = module
    spec.loader.exec_module(module)
    return module


check_no_keys = _tool()

# Built at run time so that this file itself holds no key-shaped string.
SHAPED = {
    "Novita-style API key": "sk_" + "a1B2" * 6,
    "AWS access key ID": "AKIA" + "Q" * 16,
    "webhook signing secret": "whsec_" + "c2VjcmV0" * 4,
    "private key block": "-----BEGIN RSA " + "PRIVATE KEY-----",
    "GitHub token": "ghp_" + "x" * 36,
}


@pytest.mark.parametrize(("kind", "value"), SHAPED.items(), ids=list(SHAPED))
def test_a_key_shaped_string_is_flagged_by_kind_and_line(kind: str, value: str):
    text = f"first line\nconfig = {value!r}\n"

    assert check_no_keys.findings(text, "settings.py") == [f"settings.py:2: {kind}"]


@pytest.mark.parametrize(
    "value",
    ["test-key-for-the-simulator", "sk_short", "whsec_tooShort", "AKIA-not-a-key", "fake-registry-pass-7Qx9"],
)
def test_the_fake_values_tests_use_pass(value: str):
    assert check_no_keys.findings(f"key = {value!r}\n", "t.py") == []


def test_the_repository_holds_no_key_shaped_string():
    files = check_no_keys.repository_files(ROOT)

    assert files, "git listed no files"
    assert check_no_keys.scan(files, ROOT) == []
