"""The permission proof can fail: the calls one startup makes on the local engine pass against the
translated template, and fail, naming the call, once one action is removed from one policy.

The proof itself runs at the end of every test run (tests/conftest.py, novita_local.permissions)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from novita_local.engine import LocalEngine
from novita_local.operations import run_operation, start_request
from novita_local.permissions import Call, CallRecorder, Names, check, template_grants
from novita_local.simulator import Simulator
from novita_local.template import PROJECT_ROOT, TEMPLATE_PATH
from tests.support.workflow import TIME_SCALE, clear_table

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(180)]

REMOVED = Call("ResolveTargetFunction", "dynamodb:PutItem", "OperationsTable")


def without_resolve_targets_put_item(tmp_path: Path) -> Path:
    """A copy of template.yaml whose ResolveTargetFunction may no longer put operations."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    start = text.index("\n  ResolveTargetFunction:\n")
    end = text.index("\n  ResolveRegistryAuthFunction:\n")
    granted = (
        "Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem]\n"
        "              Resource: !GetAtt OperationsTable.Arn"
    )
    at = text.index(granted, start, end)
    narrowed = text[:at] + granted.replace("dynamodb:PutItem, ", "") + text[at + len(granted) :]
    os.symlink(PROJECT_ROOT / "statemachine", tmp_path / "statemachine")  # the definitions it inlines
    path = tmp_path / "template.yaml"
    path.write_text(narrowed, encoding="utf-8")
    return path


def test_the_proof_fails_on_a_call_the_policy_does_not_allow(
    engine: LocalEngine, simulator: Simulator, tmp_path: Path
) -> None:
    simulator.admin.set_config(time_scale=TIME_SCALE)
    clear_table(engine, "OperationsTable")
    recorder = CallRecorder()
    engine.restart_functions()  # clients are made at a cold start: inside the recording
    with recorder.recording(Names.of(engine.wiring)):
        operation = run_operation(engine, start_request("dev-box"), timeout=60)
    assert operation.status == "ready", operation.summary()
    calls = set(recorder.calls)
    assert REMOVED in calls

    assert check(calls, template_grants(TEMPLATE_PATH), require_use=False).ok

    verdict = check(calls, template_grants(without_resolve_targets_put_item(tmp_path)), require_use=False)
    assert verdict.denied == [REMOVED]
    assert verdict.lines() == ["denied: ResolveTargetFunction called dynamodb:PutItem on OperationsTable"]
