"""template.yaml is the single source of truth: it must parse and describe what the code expects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from novita_local.template import TEMPLATE_PATH, load_template, resources_of_type
from novita_orchestrator.settings import FUNCTION_SETTINGS, setting_names
from novita_orchestrator.workflow.errors import TRANSIENT_ERRORS

#: Read by Powertools and pydantic themselves, not by the service's settings.
LIBRARY_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "PYDANTIC_DISABLE_PLUGINS"}
STATE_MACHINES = sorted((TEMPLATE_PATH.parent / "statemachine").glob("*.asl.json"))


def test_template_parses_with_intrinsic_tags() -> None:
    template = load_template()
    layer = template["Resources"]["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/shared/"
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert layer["Properties"]["LayerName"] == {"Fn::Sub": "${AWS::StackName}-shared"}


def test_every_table_has_on_demand_billing() -> None:
    for logical_id, table in resources_of_type(load_template(), "AWS::DynamoDB::Table").items():
        assert table["Properties"].get("BillingMode") == "PAY_PER_REQUEST", logical_id


def _task_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state.get("Type") == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from _task_states(branch["States"])


def test_the_state_machine_retries_only_the_transient_error_names() -> None:
    # The names come from the error classes (workflow/errors.py): one table, the ASL follows it.
    for path in STATE_MACHINES:
        definition = json.loads(path.read_text(encoding="utf-8"))
        for name, state in _task_states(definition["States"]):
            if not str(state.get("Resource", "")).endswith("FunctionArn}"):
                continue  # service integrations (SQS, EventBridge) retry on States.ALL
            for retrier in state.get("Retry", []):
                # AWS's names are namespaced (Lambda.*, States.*, Sandbox.Timedout); ours are class names.
                ours = {e for e in retrier["ErrorEquals"] if "." not in e}
                assert ours <= TRANSIENT_ERRORS, (
                    f"{path.name} {name} retries {sorted(ours - TRANSIENT_ERRORS)}"
                )
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            if name not in {
                "LaunchInstance",
                "FinishReady",
                "FinishDone",
                "FinishFailed",
            }:  # never repeat a launch
                assert retried >= TRANSIENT_ERRORS, f"{path.name} {name} does not retry transient errors"


def test_every_function_gets_the_variables_its_settings_require() -> None:
    template = load_template()
    globals_ = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for logical_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        model = FUNCTION_SETTINGS[logical_id]
        own = set(function["Properties"].get("Environment", {}).get("Variables", {}))
        required = {name for name, field in model.model_fields.items() if field.is_required()}
        assert required <= globals_ | own, f"{logical_id} lacks {sorted(required - globals_ - own)}"
        # Every other variable the template sets is one the code reads (no dead settings), and what a
        # function is given on its own is read by that function's model (not ignored by it).
        assert (globals_ | own) - LIBRARY_VARIABLES <= set(setting_names()), logical_id
        ignored = own - LIBRARY_VARIABLES - set(model.model_fields)
        assert not ignored, f"{logical_id} is given {sorted(ignored)} but its settings never read them"
