"""The state document's models against the state machine: every path the ASL reads is a field of the
model of the step that writes it, results dump with the ASL's camelCase keys, and bad documents are
refused naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from novita_local.template import TEMPLATE_PATH
from novita_orchestrator.novita.models import Instance
from novita_orchestrator.workflow.errors import InvalidRequest
from novita_orchestrator.workflow.request import OperationRequest, new_operation_id
from novita_orchestrator.workflow.state import (
    AcceptedInstance,
    ActionResult,
    CaughtError,
    FinishResult,
    FinishState,
    HealthResult,
    LaunchResult,
    OperationState,
    PollResult,
    RegistryAuthResult,
    RunningInstance,
    SettlePollResult,
    StepState,
    Target,
)
from tests.support.steps import TARGET

STATEMACHINES = Path(TEMPLATE_PATH).parent / "statemachine"
ASL = STATEMACHINES / "start_instance.asl.json"
STOP_ASL = STATEMACHINES / "stop_instance.asl.json"
#: The section each Lambda writes (its ResultPath) and the model of what it writes there.
RESULTS: dict[str, tuple[str, type[BaseModel]]] = {
    "ResolveTarget": ("target", Target),
    "ResolveRegistryAuth": ("registryAuth", RegistryAuthResult),
    "LaunchInstance": ("launch", LaunchResult),
    "PollStatus": ("poll", PollResult),
    "CheckHealth": ("health", HealthResult),
    "FinishReady": ("finish", FinishResult),
    "FinishFailed": ("finish", FinishResult),
}
#: The same for the stop workflow (stop and delete).
STOP_RESULTS: dict[str, tuple[str, type[BaseModel]]] = {
    "ResolveTarget": ("target", Target),
    "StopInstance": ("action", ActionResult),
    "PollStopped": ("poll", SettlePollResult),
    "FinishDone": ("finish", FinishResult),
    "FinishFailed": ("finish", FinishResult),
}
MACHINES = pytest.mark.parametrize(
    ("asl", "results"), [(ASL, RESULTS), (STOP_ASL, STOP_RESULTS)], ids=["start", "stop"]
)
_PATH = re.compile(r"(?<!\$)\$\.([A-Za-z]+)\.([A-Za-z]+)")  # not $$. (the context object)


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])


def _paths_read(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from (f"{m.group(1)}.{m.group(2)}" for m in _PATH.finditer(value))
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _paths_read(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _paths_read(inner)


def _aliases(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


@MACHINES
def test_every_path_the_state_machine_reads_is_a_field_of_its_section_model(
    asl: Path, results: dict[str, tuple[str, type[BaseModel]]]
) -> None:
    definition = json.loads(asl.read_text(encoding="utf-8"))
    models = {section: model for section, model in results.values()}
    models |= {"request": OperationRequest, "error": CaughtError}
    read: set[str] = set()
    for _, state in _states(definition["States"]):
        # Everything a state reads (Choices, SecondsPath, Parameters, ErrorPath, ...), not what it writes.
        read |= set(
            _paths_read({k: v for k, v in state.items() if k not in {"ResultPath", "Result", "Comment"}})
        )
    assert read, "the definition reads no section fields: the parser above is broken"
    for path in sorted(read):
        section, field = path.split(".")
        assert section in models, f"the ASL reads $.{path}: no model describes $.{section}"
        assert field in _aliases(models[section]), f"the ASL reads $.{path}: not a field of {models[section]}"


@MACHINES
def test_each_step_writes_where_its_model_says(
    asl: Path, results: dict[str, tuple[str, type[BaseModel]]]
) -> None:
    states = dict(_states(json.loads(asl.read_text(encoding="utf-8"))["States"]))
    for name, (section, _) in results.items():
        assert states[name]["ResultPath"] == f"$.{section}", name


def test_results_dump_with_the_camel_case_keys_of_the_document() -> None:
    poll = PollResult(outcome="waiting", phase="starting", delay_seconds=8, polls=2, notification=None)
    assert poll.to_state() == {
        "outcome": "waiting",
        "phase": "starting",
        "delaySeconds": 8,
        "polls": 2,
        "notification": None,
        "status": None,
        "confirmedAt": None,
        "instance": None,
    }
    assert Target.model_validate(TARGET).to_state() == TARGET
    assert RegistryAuthResult(image_auth_id="auth-1").to_state() == {"imageAuthId": "auth-1"}
    health = HealthResult.model_validate(
        {"outcome": "healthy", "delaySeconds": 0, "checks": 3, "endpoints": [{"port": 8888, "type": "http"}]}
    )
    assert health.to_state() == {
        "outcome": "healthy",
        "delaySeconds": 0,
        "checks": 3,
        "notification": None,
        "endpoints": [{"port": 8888, "type": "http", "endpoint": None}],
        "instanceName": None,
    }


def test_the_running_instance_a_poll_carries_has_only_what_a_probe_needs() -> None:
    instance = Instance.model_validate(
        {
            "id": "inst-1",
            "name": "dev-box",
            "status": "running",
            "portMappings": [{"port": 8888, "type": "http", "endpoint": "http://127.0.0.1:9"}],
            "connectComponentSSH": {"sshCommand": "ssh root@x", "password": "never-in-the-state"},
        }
    )
    poll = PollResult(
        outcome="running", phase="running", delay_seconds=0, polls=3, instance=RunningInstance.of(instance)
    )
    assert poll.to_state()["instance"] == {
        "name": "dev-box",
        "portMappings": [{"port": 8888, "type": "http", "endpoint": "http://127.0.0.1:9"}],
    }
    assert "never-in-the-state" not in json.dumps(poll.to_state())
    # A malformed one is ignored (the first health check then reads Novita itself).
    state = StepState.parse(
        {
            "operationId": new_operation_id(),
            "request": {"start": {"ref": "dev-box"}},
            "target": TARGET,
            "poll": {**poll.to_state(), "instance": {"portMappings": "8888"}},
        }
    )
    assert state.poll is not None and state.poll.instance is None


def test_the_instance_the_api_accepted_round_trips_and_a_malformed_one_is_ignored() -> None:
    instance = Instance.model_validate(
        {
            "id": "inst-1",
            "name": "dev-box",
            "status": "exited",
            "productId": "prod-1",
            "statusError": {"state": "failed", "message": "pull failed"},
        }
    )
    accepted = AcceptedInstance.of(instance, status_fresh=False)
    document = {"operationId": new_operation_id(), "request": {"start": {"ref": "dev-box"}}}
    assert accepted.to_state() == {
        "instanceId": "inst-1",
        "instanceName": "dev-box",
        "productId": "prod-1",
        "status": "exited",
        "statusError": {"state": "failed", "message": "pull failed"},
        "statusFresh": False,
    }
    assert OperationState.parse({**document, "accepted": accepted.to_state()}).accepted == accepted
    assert OperationState.parse({**document, "accepted": {"status": "exited"}}).accepted is None
    assert OperationState.parse(document).accepted is None


def test_the_seed_the_state_machine_puts_before_the_first_poll_parses() -> None:
    definition = json.loads(ASL.read_text(encoding="utf-8"))
    seed = definition["States"]["PrepareFirstPoll"]["Result"]
    state = StepState.parse(
        {
            "operationId": new_operation_id(),
            "request": {"start": {"ref": "dev-box"}},
            "target": TARGET,
            "poll": seed,
        }
    )
    assert state.poll is not None and (state.poll.polls, state.poll.phase) == (0, None)
    assert state.instance_id == "inst-dev-box"


def test_a_step_without_its_sections_is_refused_naming_them() -> None:
    with pytest.raises(InvalidRequest, match="target"):
        StepState.parse({"operationId": new_operation_id(), "request": {"start": {"ref": "dev-box"}}})
    with pytest.raises(InvalidRequest, match=r"start\.ref"):
        OperationState.parse({"operationId": new_operation_id(), "request": {"start": {"ref": ""}}})
    with pytest.raises(InvalidRequest, match="the event must be the state document"):
        FinishState.parse(["not", "a", "document"])


def test_finish_reads_whatever_is_usable_so_every_operation_ends() -> None:
    state = FinishState.parse(
        {
            "outcome": "failed",
            "request": "not a request",
            "target": {"kind": "neither"},
            "error": {"Error": "States.Timeout", "Cause": "took too long"},
        }
    )
    assert (state.operation, state.kind, state.target_ref, state.webhook_url) == ("op-unknown", "", "", None)
    assert state.target is None and state.instance_id is None
    assert state.error is not None and state.error.Error == "States.Timeout"
    full = FinishState.parse(
        {
            "operationId": "op-1",
            "outcome": "ready",
            "request": {"create": {"name": "box"}, "webhook": {"url": "https://h.example.com/x"}},
            "target": TARGET,
            "launch": {"instanceId": "inst-new", "notification": None},
        }
    )
    assert (full.kind, full.target_ref, full.webhook_url, full.instance_id) == (
        "create",
        "box",
        "https://h.example.com/x",
        "inst-new",
    )
