"""The local engine reads names, ARNs and function settings from a template as CloudFormation would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from novita_local.engine.resolve import TemplateResolutionError
from novita_local.engine.wiring import TemplateWiring

TEMPLATE: dict[str, Any] = {
    "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
    "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
    "Globals": {
        "Function": {
            "Timeout": 60,
            "Layers": [{"Ref": "Shared"}],
            "Environment": {"Variables": {"STAGE": {"Ref": "Stage"}, "LEVEL": "INFO"}},
        }
    },
    "Resources": {
        "Shared": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "layer/"}},
        "Jobs": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-jobs"}},
        },
        "Worker": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "functions/worker/",
                "Handler": "app.handler",
                "Timeout": 10,
                "Environment": {
                    "Variables": {
                        "LEVEL": "DEBUG",
                        "JOBS_ARN": {"Fn::Sub": "${Jobs.Arn}"},
                        "LITERAL": {"Fn::Sub": "${!NotSubstituted}"},
                        "SIZE": {"Fn::If": ["IsProd", "large", "small"]},
                        "PARTS": {"Fn::Join": ["/", [{"Ref": "Stage"}, {"Fn::Select": [1, ["a", "b"]]}]]},
                    }
                },
            },
        },
    },
}


@pytest.fixture
def wiring(tmp_path: Path) -> TemplateWiring:
    return TemplateWiring(TEMPLATE, tmp_path, stack_name="stack")


def test_globals_apply_and_the_function_wins(wiring: TemplateWiring, tmp_path: Path):
    spec = wiring.function_spec("Worker")

    assert spec.timeout_seconds == 10
    assert spec.environment["STAGE"] == "dev"
    assert spec.environment["LEVEL"] == "DEBUG"
    assert spec.layer_dirs == ((tmp_path / "layer").resolve(),)
    assert spec.handler_file == (tmp_path / "functions/worker/app.py").resolve()


def test_intrinsics_resolve_to_local_names_and_arns(wiring: TemplateWiring):
    environment = wiring.function_spec("Worker").environment

    assert environment["JOBS_ARN"] == "arn:aws:sqs:us-east-1:123456789012:stack-jobs"
    assert environment["LITERAL"] == "${NotSubstituted}"
    assert environment["SIZE"] == "small"
    assert environment["PARTS"] == "dev/b"
    assert wiring.ref("Jobs") == "https://sqs.us-east-1.amazonaws.com/123456789012/stack-jobs"
    assert wiring.ref("Worker") == "stack-Worker"


def test_parameter_overrides_flow_into_conditions(tmp_path: Path):
    wiring = TemplateWiring(TEMPLATE, tmp_path, parameter_overrides={"Stage": "prod"})

    assert wiring.function_spec("Worker").environment["SIZE"] == "large"


def test_an_unsupported_intrinsic_is_named(tmp_path: Path):
    template = {
        "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Base64": "x"}}}}
    }

    with pytest.raises(TemplateResolutionError, match="Fn::Base64"):
        TemplateWiring(template, tmp_path).physical_name("Q")


def test_an_unknown_reference_is_named(tmp_path: Path):
    with pytest.raises(TemplateResolutionError, match="'Nope'"):
        TemplateWiring(TEMPLATE, tmp_path).ref("Nope")
