"""Fail if a key-shaped string is in the repository (run by ``make check``).

Scans every file git tracks or would add (``git ls-files --cached --others --exclude-standard``)
for the shapes of real credentials: Novita API keys (``sk_…``), AWS access key IDs, webhook signing
secrets (``whsec_…``), private key blocks and a few common tokens. Test fixtures use short or
obviously fake values that do not match; the allow-list below is for the rare exact string that
must stay (keep it empty if you can).

    python tools/check_no_keys.py [PATH ...]     # default: the repository's files
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

PATTERNS: dict[str, re.Pattern[str]] = {
    "Novita-style API key": re.compile(r"\bsk_[A-Za-z0-9]{16,}"),
    "AWS access key ID": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{40}"),
    "webhook signing secret": re.compile(r"\bwhsec_[A-Za-z0-9+/=]{24,}"),
    "private key block": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
}

#: Exact strings allowed despite their shape (e.g. a vendor's documented example key).
ALLOWED: frozenset[str] = frozenset()

_SKIPPED_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".ico", ".jar", ".zip", ".gz", ".whl", ".pyc")


def findings(text: str, where: str) -> list[str]:
    """``"<where>:<line>: <kind>"`` for every key-shaped string in ``text`` (the value is not shown)."""
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            if any(match.group(0) not in ALLOWED for match in pattern.finditer(line)):
                found.append(f"{where}:{number}: {kind}")
    return found


def repository_files(root: Path) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8", "replace")
    return [root / name for name in listed.split("\0") if name]


def scan(paths: Iterable[Path], root: Path) -> list[str]:
    found: list[str] = []
    for path in paths:
        if path.suffix.lower() in _SKIPPED_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        where = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        found.extend(findings(text, where))
    return found


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    paths = [Path(arg).resolve() for arg in argv] if argv else repository_files(root)
    found = scan(paths, root)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(
            f"{len(found)} key-shaped string(s) found: remove them (or use an obviously fake value)",
            file=sys.stderr,
        )
        return 1
    print(f"no key-shaped strings in {len(paths)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
