"""``make check`` runs checkov on the translated template (``python -m novita_local.checkov_run``):
every finding is of a check listed with its reason, and nothing listed has stopped firing."""

from __future__ import annotations

from pathlib import Path

import pytest

from novita_local.checkov_run import Finding, load_skips, main, stale, unexpected
from novita_local.template import TEMPLATE_PATH

SQS_MANAGED_SSE_FALSE_POSITIVE = "CKV_AWS_27"


def test_every_skipped_check_has_its_reason():
    skips = load_skips()

    assert SQS_MANAGED_SSE_FALSE_POSITIVE in skips
    assert all(len(reason.split()) >= 8 for reason in skips.values()), skips


def test_a_skip_without_a_reason_is_refused(tmp_path: Path):
    skips = tmp_path / "skips.yaml"
    skips.write_text("CKV_AWS_27:\n")

    with pytest.raises(ValueError, match="no reason given for CKV_AWS_27"):
        load_skips(skips)


def test_new_findings_and_stale_skips_are_both_reported():
    findings = [
        Finding("CKV_AWS_27", "AWS::SQS::Queue.Q", "encrypted"),
        Finding("CKV_AWS_18", "B", "logging"),
    ]
    skips = {"CKV_AWS_27": "managed SSE", "CKV_AWS_117": "no VPC"}

    assert unexpected(findings, skips) == [Finding("CKV_AWS_18", "B", "logging")]
    assert stale(findings, skips) == ["CKV_AWS_117"]


def test_the_projects_template_passes(capsys: pytest.CaptureFixture[str]):
    assert main([]) == 0, capsys.readouterr().err


def test_a_planted_finding_and_a_stale_skip_fail_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A real checkov run on the template with a bucket added (checks nobody skipped fire)."""
    text = TEMPLATE_PATH.read_text()
    planted = text.replace(
        "\nResources:\n", "\nResources:\n  PlantedBucket:\n    Type: AWS::S3::Bucket\n\n", 1
    )
    assert planted != text
    (tmp_path / "template.yaml").write_text(planted)
    for folder in ("functions", "layers", "statemachine"):  # what the template's paths point at
        (tmp_path / folder).symlink_to(TEMPLATE_PATH.parent / folder)
    skips = tmp_path / "skips.yaml"
    listed = (TEMPLATE_PATH.parent / "tools" / "checkov-skips.yaml").read_text()
    skips.write_text(listed + "CKV_AWS_999: a check that nothing in this template makes fire\n")

    assert main(["--template", str(tmp_path / "template.yaml"), "--skips", str(skips)]) == 1

    err = capsys.readouterr().err
    assert "AWS::S3::Bucket.PlantedBucket" in err
    assert "CKV_AWS_999 is skipped in skips.yaml but no longer fires" in err
    assert "AWS::SQS::Queue" not in err  # the listed checks stay quiet
