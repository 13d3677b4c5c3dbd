"""The local engine runs a template's real state machines and handlers: a small fixture template proves it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novita_local.engine import LocalEngine

pytestmark = pytest.mark.workflow

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "local_engine" / "template.yaml"
# A Wait of an hour, or a Retry pause of a minute, takes a fraction of a second at this scale.
WAIT_SCALE = 1e-4
EXECUTION_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine(
        FIXTURE_TEMPLATE, wait_scale=WAIT_SCALE, environment_overrides={"ENGINE_OVERRIDE": "from the test"}
    ) as running:
        yield running


def run(engine: LocalEngine, state_machine: str, execution_input: dict[str, Any]) -> dict[str, Any]:
    arn = engine.start_execution(state_machine, execution_input)
    outcome = engine.wait_for_execution(arn, timeout=EXECUTION_TIMEOUT)
    return {**outcome, "arn": arn}


@pytest.fixture(scope="module")
def echoed(engine: LocalEngine) -> dict[str, Any]:
    outcome = run(engine, "EchoStateMachine", {"id": "op-echo-1"})
    assert outcome["status"] == "SUCCEEDED", outcome
    echo: dict[str, Any] = outcome["output"]["result"]["echo"]
    return echo


def test_a_task_runs_the_real_handler_with_the_template_environment(
    engine: LocalEngine, echoed: dict[str, Any]
):
    assert echoed["input"] == {"id": "op-echo-1"}
    assert echoed["greeting"] == "hello from the template"  # Globals -> !Ref of a parameter's Default
    assert echoed["role"] == "echo"  # read at cold start, under the function's own Environment
    assert echoed["tableName"] == engine.resource_name("StateTable")
    assert echoed["queueUrl"] == engine.queue_url("NotificationsQueue")
    assert echoed["busArn"] == engine.resource_arn("EventBus")
    assert echoed["override"] == "from the test"


def test_the_handler_gets_a_lambda_context(engine: LocalEngine, echoed: dict[str, Any]):
    assert echoed["functionName"] == engine.resource_name("EchoFunction")
    assert echoed["invokedArn"] == engine.resource_arn("EchoFunction")
    assert echoed["memoryMb"] == 256
    assert echoed["hasTimeLeft"] is True


def test_the_layer_is_importable_by_the_handler(echoed: dict[str, Any]):
    assert echoed["shouted"] == "HELLO FROM THE TEMPLATE!"


def test_a_function_environment_does_not_leak_into_the_process(echoed: dict[str, Any]):
    # While the engine runs the keys stay in os.environ (other threads iterate it), empty = unset.
    assert os.environ.get("GREETING", "") == ""
    assert os.environ.get("FUNCTION_ROLE", "") == ""


def test_service_integrations_reach_the_templates_queue_table_and_bus(engine: LocalEngine):
    outcome = run(engine, "EchoStateMachine", {"id": "op-echo-2"})

    assert outcome["status"] == "SUCCEEDED", outcome
    notifications = [m.json() for m in engine.queue_messages("NotificationsQueue")]
    assert {"type": "echoed", "id": "op-echo-2", "greeting": "hello from the template"} in notifications
    item = engine.boto_client("dynamodb").get_item(
        TableName=engine.resource_name("StateTable"), Key={"pk": {"S": "op-echo-2"}}
    )["Item"]
    assert item["greeting"] == {"S": "hello from the template"}
    assert outcome["output"]["stored"] == {"greeting": "hello from the template"}
    published = [m.json() for m in engine.queue_messages("PublishedEventsQueue")]
    assert {"id": "op-echo-2"} in [event["detail"] for event in published if event["detail-type"] == "Echoed"]


def test_retry_reinvokes_a_handler_that_raised_a_transient_error(engine: LocalEngine):
    outcome = run(engine, "RetryStateMachine", {"operationId": "op-retry-1", "failTimes": 2})

    assert outcome["status"] == "SUCCEEDED", outcome
    assert outcome["output"]["start"]["result"] == {"operationId": "op-retry-1", "attempts": 3}
    calls = [c for c in engine.invocations("FlakyFunction") if c.event["operationId"] == "op-retry-1"]
    assert [c.error_type for c in calls] == ["TransientError", "TransientError", None]


def test_retries_end_at_max_attempts_and_catch_takes_the_failure_branch(engine: LocalEngine):
    outcome = run(engine, "RetryStateMachine", {"operationId": "op-retry-2", "failTimes": 10})

    assert outcome["status"] == "SUCCEEDED", outcome
    assert outcome["output"]["outcome"] == "failed"
    assert outcome["output"]["error"] == "TransientError"
    assert outcome["output"]["cause"]["errorMessage"] == "attempt 4 of op-retry-2 failed"
    calls = [c for c in engine.invocations("FlakyFunction") if c.event["operationId"] == "op-retry-2"]
    assert len(calls) == 4  # the first attempt and MaxAttempts (3) retries


def test_catch_routes_a_handler_exception_with_its_error_name_and_cause(engine: LocalEngine):
    outcome = run(engine, "RetryStateMachine", {"mode": "lookup", "name": "dev-box"})

    assert outcome["status"] == "SUCCEEDED", outcome
    failure = outcome["output"]
    assert failure["error"] == "InstanceNotFound"
    assert failure["cause"]["errorType"] == "InstanceNotFound"
    assert failure["cause"]["errorMessage"] == "no instance named 'dev-box'"
    stack = "".join(failure["cause"]["stackTrace"])
    assert "functions/failing/app.py" in stack
    assert "lambda_patch.py" not in stack


def test_an_uncaught_handler_exception_fails_the_execution_like_lambda(engine: LocalEngine):
    outcome = run(engine, "RetryStateMachine", {"mode": "lookup"})  # no "name": the handler raises KeyError

    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "KeyError"
    cause = json.loads(outcome["cause"])
    assert cause["errorType"] == "KeyError"
    assert cause["errorMessage"] == "'name'"


def test_a_wait_from_the_state_is_time_scaled_and_a_choice_loop_polls_until_ready(engine: LocalEngine):
    # Three waits of an hour each: only the time scale lets this finish inside the test timeout.
    outcome = run(
        engine, "PollLoopStateMachine", {"delaySeconds": 3600, "status": {"remaining": 3, "polls": 0}}
    )

    assert outcome["status"] == "SUCCEEDED", outcome
    assert outcome["output"]["status"] == {"remaining": 0, "ready": True, "polls": 3, "role": "countdown"}
    history = engine.execution_history(outcome["arn"])
    assert [e["type"] for e in history].count("WaitStateEntered") == 3
    assert [e["type"] for e in history].count("ChoiceStateEntered") == 3


def test_the_definition_runs_with_the_templates_substitutions(engine: LocalEngine):
    definition = json.loads(engine.state_machine_definition("PollLoopStateMachine"))

    assert definition["States"]["PollStatus"]["Resource"] == engine.resource_arn("CountdownFunction")


def test_a_queue_consumer_gets_its_messages_and_poison_ones_end_in_the_dead_letter_queue(engine: LocalEngine):
    sqs = engine.boto_client("sqs")
    for job in ({"id": "a"}, {"id": "b"}, {"id": "c", "poison": True}):
        sqs.send_message(QueueUrl=engine.queue_url("WorkQueue"), MessageBody=json.dumps(job))

    handled = engine.deliver_queue_messages("WorkerFunction", retry_failed_now=True)

    assert handled == 2
    table = engine.resource_name("StateTable")
    for job_id in ("a", "b"):
        item = engine.boto_client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"job-{job_id}"}})
        assert item["Item"]["source"] == {"S": engine.resource_arn("WorkQueue")}
    assert engine.queue_messages("WorkQueue") == []
    assert [m.json() for m in engine.queue_messages("WorkDeadLetterQueue")] == [{"id": "c", "poison": True}]
