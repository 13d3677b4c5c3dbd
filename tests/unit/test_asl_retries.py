"""Every Lambda step of every state machine retries what AWS reports for a lost or timed-out call.

``Lambda.ClientExecutionTimeoutException`` is a Lambda service error like ``Lambda.ServiceException``
(AWS's own retry advice lists them together). A function timeout is ``Lambda.Unknown`` in AWS's
documentation and ``Sandbox.Timedout`` in newer runtimes' error payloads: a step that may run twice
retries both; a step that must not (a create may have landed) is named below with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novita_local.template import PROJECT_ROOT

DEFINITIONS = sorted((PROJECT_ROOT / "statemachine").glob("*.asl.json"))
CLIENT_TIMEOUT = "Lambda.ClientExecutionTimeoutException"
FUNCTION_TIMEOUTS = ("Sandbox.Timedout", "Lambda.Unknown")
NOT_RUN_TWICE = {
    "LaunchInstance": "a create may have reached Novita before the timeout: run again, it would create twice",
}


def lambda_tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        resource = str(state.get("Resource", ""))
        if state.get("Type") == "Task" and (
            resource.endswith("FunctionArn}")
            or ":lambda:" in resource
            or resource.endswith(":::lambda:invoke")
        ):
            yield name, state
        for branch in state.get("Branches", []):
            yield from lambda_tasks(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from lambda_tasks(processor["States"])


def retried(state: dict[str, Any], error: str) -> bool:
    """Whether the first retrier that matches the error (as Step Functions picks it) retries it."""
    for retrier in state.get("Retry", []):
        names = retrier["ErrorEquals"]
        if (
            error in names
            or "States.ALL" in names
            or ("States.TaskFailed" in names and not error.startswith("States."))
        ):
            return int(retrier.get("MaxAttempts", 3)) > 0
    return False


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_every_lambda_step_retries_a_client_execution_timeout(path: Path):
    tasks = dict(lambda_tasks(json.loads(path.read_text())["States"]))

    assert tasks, "no Lambda steps found"
    assert [name for name, state in tasks.items() if not retried(state, CLIENT_TIMEOUT)] == []


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_steps_that_may_run_twice_retry_a_function_timeout_and_the_others_do_not(path: Path):
    tasks = dict(lambda_tasks(json.loads(path.read_text())["States"]))

    for name, state in tasks.items():
        for error in FUNCTION_TIMEOUTS:
            expected = name not in NOT_RUN_TWICE
            assert retried(state, error) is expected, f"{name}: {error} retried={not expected}"


def test_the_rule_reads_retriers_as_step_functions_does():
    state = {
        "Retry": [
            {"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 3},
            {"ErrorEquals": ["Sandbox.Timedout"], "MaxAttempts": 0},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 2},
        ]
    }

    assert retried(state, "Lambda.ServiceException")
    assert not retried(state, "Sandbox.Timedout")  # its own retrier says 0, States.ALL is not reached
    assert retried(state, CLIENT_TIMEOUT)
    assert not retried({"Retry": []}, CLIENT_TIMEOUT)
