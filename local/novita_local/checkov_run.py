"""Run checkov on the translated template (run by ``make check``); fail on any finding not skipped.

The template is translated with AWS SAM's own translator first (``novita_local.sam_translate``):
checkov's SAM support sees the template as written, not the roles, stages and event source mappings
a deploy creates. Every check that does not apply is listed, with its reason, in
``tools/checkov-skips.yaml``; a skip that no longer matches a finding fails too, so the list stays
exactly the checks that fire.

    python -m novita_local.checkov_run [--checkov PATH] [--template template.yaml]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from novita_local.sam_translate import TranslationError, translate
from novita_local.template import PROJECT_ROOT, TEMPLATE_PATH

SKIPS_PATH = PROJECT_ROOT / "tools" / "checkov-skips.yaml"
CHECKOV = PROJECT_ROOT / ".tools" / "checkov" / "bin" / "checkov"
#: Offline and terse: no download of Prisma Cloud data, no upload of results.
QUIET = ("--quiet", "--compact", "--skip-download", "--skip-results-upload")


@dataclass(frozen=True, order=True)
class Finding:
    check_id: str
    resource: str
    name: str


def load_skips(path: Path = SKIPS_PATH) -> dict[str, str]:
    """check ID -> reason; a skip without a reason is an error."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected 'CHECK_ID: reason' lines")
    missing = [check for check, reason in loaded.items() if not str(reason or "").strip()]
    if missing:
        raise ValueError(f"{path}: no reason given for {', '.join(map(str, missing))}")
    return {str(check): str(reason) for check, reason in loaded.items()}


def findings_of(report: object) -> list[Finding]:
    """The failed checks of checkov's JSON report (one report, or a list of them per framework)."""
    reports = report if isinstance(report, list) else [report]
    found: list[Finding] = []
    for one in reports:
        if not isinstance(one, Mapping):
            continue
        for failed in (one.get("results") or {}).get("failed_checks") or []:
            found.append(Finding(str(failed["check_id"]), str(failed["resource"]), str(failed["check_name"])))
    return sorted(found)


def unexpected(findings: Iterable[Finding], skips: Mapping[str, str]) -> list[Finding]:
    return sorted(f for f in findings if f.check_id not in skips)


def stale(findings: Iterable[Finding], skips: Mapping[str, str]) -> list[str]:
    fired = {f.check_id for f in findings}
    return sorted(check for check in skips if check not in fired)


def run_checkov(checkov: Path, template: Path) -> object:
    if not checkov.is_file():
        raise FileNotFoundError(f"checkov is not installed (no {checkov}): run make install")
    completed = subprocess.run(
        [str(checkov), "--file", str(template), "--framework", "cloudformation", "--output", "json", *QUIET],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    # checkov exits 1 when a check fails; anything else without a report is a failure to run.
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError:
        detail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"checkov did not report (exit {completed.returncode}): {detail[0]}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m novita_local.checkov_run",
        description="checkov on the translated template; fail on any finding not in the skip list",
    )
    parser.add_argument("--checkov", type=Path, default=CHECKOV, help="the checkov executable")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH, help="the SAM template")
    parser.add_argument("--skips", type=Path, default=SKIPS_PATH, help="CHECK_ID: reason, one per line")
    args = parser.parse_args(argv)
    try:
        skips = load_skips(args.skips)
        with tempfile.TemporaryDirectory() as scratch:
            translated = Path(scratch) / "translated-template.json"
            translated.write_text(json.dumps(translate(template_path=args.template)))
            findings = findings_of(run_checkov(args.checkov, translated))
    except (TranslationError, OSError, RuntimeError, ValueError, yaml.YAMLError) as error:
        print(f"checkov: {error}", file=sys.stderr)
        return 2
    new = unexpected(findings, skips)
    for finding in new:
        print(f"checkov: {finding.check_id} {finding.resource}: {finding.name}", file=sys.stderr)
    gone = stale(findings, skips)
    for check in gone:
        print(
            f"checkov: {check} is skipped in {args.skips.name} but no longer fires: remove it",
            file=sys.stderr,
        )
    if new or gone:
        return 1
    print(f"checkov: {len(findings)} findings, all of skipped checks ({len(skips)} in {args.skips.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
