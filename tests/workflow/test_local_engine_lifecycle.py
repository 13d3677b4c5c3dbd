"""Starting and stopping the local engine leaves the process as it found it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from novita_local.engine import EngineError, LocalEngine, TemplateResolutionError

pytestmark = pytest.mark.workflow

FIXTURES = Path(__file__).parent / "fixtures" / "local_engine"


def test_stop_undoes_the_patches_the_layer_path_and_the_handler_modules():
    from moto.awslambda.models import LambdaBackend
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    invoke_before = LambdaBackend.__dict__["invoke"]
    wait_before = WaitFunction.__dict__["_wait_interval"]
    modules_before = set(sys.modules)
    layer_dir = str((FIXTURES / "layer").resolve())

    with LocalEngine(FIXTURES / "template.yaml", wait_scale=0.0) as engine:
        assert layer_dir in sys.path
        arn = engine.start_execution(
            "PollLoopStateMachine", {"delaySeconds": 5, "status": {"remaining": 1, "polls": 0}}
        )
        assert engine.wait_for_execution(arn, timeout=60)["status"] == "SUCCEEDED"

    assert LambdaBackend.__dict__["invoke"] is invoke_before
    assert WaitFunction.__dict__["_wait_interval"] is wait_before
    assert layer_dir not in sys.path
    assert not [
        name for name in set(sys.modules) - modules_before if name.startswith("_novita_local_function_")
    ]


def test_only_one_engine_runs_at_a_time():
    with LocalEngine(FIXTURES / "template.yaml"), pytest.raises(EngineError, match="another LocalEngine"):
        LocalEngine(FIXTURES / "template.yaml").start()


def test_a_missing_definition_substitution_is_named(tmp_path: Path):
    task = {"Type": "Task", "Resource": "${MissingFunctionArn}", "End": True}
    (tmp_path / "sm.asl.json").write_text(json.dumps({"StartAt": "A", "States": {"A": task}}))
    (tmp_path / "template.yaml").write_text(
        "Resources:\n"
        "  Machine:\n"
        "    Type: AWS::Serverless::StateMachine\n"
        "    Properties:\n"
        "      DefinitionUri: sm.asl.json\n"
    )

    with pytest.raises(TemplateResolutionError, match="MissingFunctionArn"):
        LocalEngine(tmp_path / "template.yaml").start()
