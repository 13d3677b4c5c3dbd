"""A misconfigured function, loaded as Lambda loads it: its init does not crash, and each event is
answered naming the variable (the API with its JSON 500, never API Gateway's bare 502)."""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from novita_local.engine.lambda_patch import LambdaContext
from novita_local.serve import proxy_event
from novita_orchestrator.environment import function_environment
from novita_orchestrator.settings import ConfigurationError
from tests.support.steps import TARGET

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
#: The state document as the state machine passes it to a step after ResolveTarget.
STEP = {"operationId": "op-" + "0" * 32, "request": {"start": {"ref": "dev-box"}}, "target": TARGET}


def load_function(name: str, environment: dict[str, str]) -> ModuleType:
    """Import functions/<name>/app.py (its init) with ``environment`` as its whole environment."""
    spec = importlib.util.spec_from_file_location(
        f"_config_test_{name}_{uuid.uuid4().hex}", FUNCTIONS / name / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with function_environment(environment):
        spec.loader.exec_module(module)
    return module


def context(name: str) -> LambdaContext:
    return LambdaContext(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        memory_limit_in_mb=256,
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="test",
        deadline_monotonic=time.monotonic() + 60,
    )


@pytest.mark.parametrize(
    ("function", "environment", "event", "named"),
    [
        ("resolve_target", {"NOVITA_API_KEY": "k"}, STEP, "OPERATIONS_TABLE_NAME"),
        ("resolve_registry_auth", {}, STEP, "NOVITA_API_KEY"),
        ("launch_instance", {"OPERATIONS_TABLE_NAME": "ops"}, STEP, "NOVITA_API_KEY"),
        (
            "poll_status",
            {"NOVITA_API_KEY": "k", "OPERATIONS_TABLE_NAME": "ops", "POLL_MIN_SECONDS": "x"},
            STEP,
            "POLL_MIN_SECONDS",
        ),
        (
            "check_health",
            {"NOVITA_API_KEY": "k", "OPERATIONS_TABLE_NAME": "ops", "TIME_SCALE": "0"},
            STEP,
            "TIME_SCALE",
        ),
        ("finish_operation", {}, {**STEP, "outcome": "failed"}, "OPERATIONS_TABLE_NAME"),
        ("start_trigger", {}, {"id": "evt-1", "detail": {"start": {"ref": "dev-box"}}}, "STATE_MACHINE_ARN"),
        ("webhook_dispatcher", {"WEBHOOK_QUEUE_URL": "https://sqs/q"}, {"Records": []}, "WEBHOOK_DLQ_URL"),
    ],
)
def test_a_function_with_a_bad_setting_answers_each_event_naming_it(
    function: str, environment: dict[str, str], event: dict[str, Any], named: str
) -> None:
    module = load_function(function, environment)  # init survives: the error waits for the event

    for _ in range(2):  # and every later event says the same
        with pytest.raises(ConfigurationError, match=named), function_environment(environment):
            module.handler(event, context(function))


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"NOVITA_API_KEY": "k", "OPERATIONS_TABLE_NAME": "ops"}, "STATE_MACHINE_ARN"),
        (
            {
                "NOVITA_API_KEY": "k",
                "OPERATIONS_TABLE_NAME": "ops",
                "STATE_MACHINE_ARN": "arn:sfn",
                "API_MAX_BODY_BYTES": "lots",
            },
            "API_MAX_BODY_BYTES",
        ),
    ],
)
def test_the_api_answers_a_bad_setting_with_a_json_500_naming_it(
    environment: dict[str, str], named: str
) -> None:
    api = load_function("api", environment)
    for method, path, body in (("GET", "/health", b""), ("POST", "/instances/dev-box/start", b"{}")):
        event = proxy_event(
            method=method,
            target=path,
            headers={"Host": "api.example.com", "Content-Type": "application/json"},
            body=body,
            source_ip="127.0.0.1",
            host="api.example.com",
            api_key=None,
        )
        with function_environment(environment):
            response = api.handler(event, context("api"))

        assert response["statusCode"] == 500, response
        assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
        error = json.loads(response["body"])["error"]
        assert error["code"] == "CONFIGURATION_ERROR"
        assert named in error["message"]
