"""``python -m novita_local.asl_check`` renders definitions the ASL validators can read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from novita_local.asl_check import main, placeholder_for

FIXTURES = Path(__file__).parents[1] / "workflow" / "fixtures" / "local_engine"


def test_a_wired_definition_gets_the_values_the_local_engine_uses(capsys: pytest.CaptureFixture[str]):
    assert main([str(FIXTURES / "statemachine" / "echo.asl.json")]) == 0

    rendered = json.loads(capsys.readouterr().out)
    states = rendered["States"]
    assert states["Echo"]["Parameters"]["FunctionName"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:novita-local-EchoFunction"
    )
    assert states["NotifyQueue"]["Parameters"]["QueueUrl"] == (
        "https://sqs.us-east-1.amazonaws.com/123456789012/novita-local-NotificationsQueue"
    )
    assert states["RecordItem"]["Parameters"]["TableName"] == "novita-local-StateTable"


def test_an_unwired_definition_gets_placeholders_of_the_right_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    definition = tmp_path / "loose.asl.json"
    definition.write_text(
        json.dumps(
            {
                "StartAt": "Poll",
                "States": {
                    "Poll": {
                        "Type": "Task",
                        "Resource": "${PollStatusFunctionArn}",
                        "Parameters": {
                            "QueueUrl": "${WebhookQueueUrl}",
                            "Machine": "${ChildStateMachineArn}",
                        },
                        "End": True,
                    }
                },
            }
        )
    )

    assert main([str(definition)]) == 0

    poll = json.loads(capsys.readouterr().out)["States"]["Poll"]
    assert poll["Resource"].startswith("arn:aws:lambda:us-east-1:123456789012:function:")
    assert poll["Parameters"]["QueueUrl"].startswith("https://sqs.us-east-1.amazonaws.com/123456789012/")
    assert poll["Parameters"]["Machine"].startswith("arn:aws:states:us-east-1:123456789012:stateMachine:")


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("OperationsTableName", "local-"),
        ("OperationsTableArn", "arn:aws:dynamodb:"),
        ("LifecycleBusName", "local-"),
        ("LifecycleBusArn", "arn:aws:events:"),
        ("NotificationsQueueArn", "arn:aws:sqs:"),
        ("WebhookSecretArn", "arn:aws:secretsmanager:"),
        ("AlertsTopicArn", "arn:aws:sns:"),
    ],
)
def test_placeholders_follow_the_name(name: str, prefix: str):
    assert placeholder_for(name).startswith(prefix)


def test_invalid_json_exits_2_with_a_message_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    definition = tmp_path / "broken.asl.json"
    definition.write_text('{"StartAt": "A",\n "States": {')

    assert main([str(definition)]) == 2

    error = capsys.readouterr().err
    assert str(definition) in error
    assert "invalid JSON at line 2" in error


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main([str(tmp_path / "nope.asl.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
