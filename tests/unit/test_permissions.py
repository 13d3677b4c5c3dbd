"""The permission proof's parts: calls named as the template names resources, service integrations
read from an execution's history, grants matched with their wildcards."""

from __future__ import annotations

import json

from novita_local.engine.wiring import AwsPlace, TemplateWiring
from novita_local.iam_grants import Grant, RoleGrants
from novita_local.permissions import Call, CallRecorder, Names, Unused, allows, check
from novita_local.template import PROJECT_ROOT, TEMPLATE_PATH, load_template


def names() -> tuple[Names, TemplateWiring]:
    wiring = TemplateWiring(load_template(TEMPLATE_PATH), PROJECT_ROOT, stack_name="proof", place=AwsPlace())
    return Names.of(wiring), wiring


def test_a_calls_resources_are_named_by_their_logical_ids() -> None:
    known, wiring = names()
    table = wiring.physical_name("OperationsTable")
    assert known.resources_of({"TableName": table, "Key": {}}) == ["OperationsTable"]
    assert known.resources_of({"TableName": table, "IndexName": "byInstance"}) == ["OperationsTable/index/*"]
    assert known.resources_of({"QueueUrl": wiring.queue_url("WebhookQueue")}) == ["WebhookQueue"]
    # A secret's ARN carries a random suffix on AWS.
    assert known.resources_of({"SecretId": wiring.arn("NovitaApiKeySecret") + "-AbCdEf"}) == [
        "NovitaApiKeySecret"
    ]
    assert known.resources_of({"Entries": [{"EventBusName": wiring.arn("EventBus")}]}) == ["EventBus"]
    assert known.resources_of({}) == ["*"]


def test_an_executions_service_integrations_are_its_state_machines_calls() -> None:
    known, wiring = names()
    history = [
        {"lambdaFunctionScheduledEventDetails": {"resource": wiring.arn("PollStatusFunction")}},
        {
            "taskScheduledEventDetails": {
                "resourceType": "sqs",
                "resource": "sendMessage",
                "parameters": json.dumps({"QueueUrl": wiring.queue_url("WebhookQueue"), "MessageBody": {}}),
            }
        },
        {"taskScheduledEventDetails": {"resourceType": "lambda", "resource": "invoke.waitForTaskToken"}},
    ]
    recorder = CallRecorder()
    recorder.record_history("StartInstanceStateMachine", history, known)
    assert set(recorder.calls) == {
        Call("StartInstanceStateMachine", "lambda:InvokeFunction", "PollStatusFunction"),
        Call("StartInstanceStateMachine", "sqs:SendMessage", "WebhookQueue"),
        Call("StartInstanceStateMachine", "lambda:InvokeFunction", "*"),
    }


def test_grants_match_with_their_wildcards_and_unused_ones_are_named() -> None:
    assert allows(
        Grant("dynamodb:*", "OperationsTable*"), Call("f", "dynamodb:Query", "OperationsTable/index/*")
    )
    assert allows(Grant("xray:PutTraceSegments", "*"), Call("f", "xray:PutTraceSegments", "*"))
    assert not allows(
        Grant("dynamodb:GetItem", "OperationsTable"), Call("f", "dynamodb:PutItem", "OperationsTable")
    )

    role = RoleGrants("FRole", {Grant("dynamodb:GetItem", "T"), Grant("logs:PutLogEvents", "G")})
    used = [Call("F", "dynamodb:GetItem", "T")]
    assert check(used, {"F": role}).unused == [Unused("F", "logs:PutLogEvents", "G")]
    skip = {Unused("F", "logs:PutLogEvents", "G"): "the runtime writes the logs"}
    assert check(used, {"F": role}, skips=skip).ok
    stale = {Unused("F", "dynamodb:GetItem", "T"): "not used"}
    assert check(used, {"F": role}, skips={**skip, **stale}).stale_skips == [
        Unused("F", "dynamodb:GetItem", "T")
    ]
