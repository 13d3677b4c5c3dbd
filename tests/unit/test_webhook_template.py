"""The template wires the dispatcher as the code expects: partial batch failures, DLQ alarm, secret."""

from __future__ import annotations

import pytest

from novita_local.template import load_template
from novita_orchestrator.environment import function_environment
from novita_orchestrator.settings import ConfigurationError, WebhookDispatcherSettings


def test_dispatcher_consumes_the_webhook_queue_with_partial_batch_failures() -> None:
    resources = load_template()["Resources"]
    function = resources["WebhookDispatcherFunction"]["Properties"]
    (event,) = function["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    variables = function["Environment"]["Variables"]
    assert variables["WEBHOOK_SECRET_ARN"] == {"Ref": "WebhookSigningSecret"}
    assert variables["WEBHOOK_DLQ_URL"] == {"Ref": "WebhookDeadLetterQueue"}
    assert variables["WEBHOOK_QUEUE_URL"] == {"Ref": "WebhookQueue"}


def test_the_queue_keeps_messages_longer_than_the_whole_default_schedule() -> None:
    resources = load_template()["Resources"]
    queue = resources["WebhookQueue"]["Properties"]
    default = WebhookDispatcherSettings.model_fields["WEBHOOK_RETRY_SCHEDULE_SECONDS"].default
    delays = [int(d) for d in default.split(",")]
    assert queue["MessageRetentionPeriod"] > sum(delays)
    # SQS's own redrive is only the crash backstop: the dispatcher dead-letters after its last attempt.
    assert queue["RedrivePolicy"]["maxReceiveCount"] > len(delays) + 1


def test_an_alarm_watches_the_dead_letter_queue_depth() -> None:
    alarm = load_template()["Resources"]["WebhookDeadLetterAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_every_state_machine_s_failed_executions_raise_an_alarm() -> None:
    resources = load_template()["Resources"]
    machines = {name for name, r in resources.items() if r["Type"] == "AWS::Serverless::StateMachine"}
    watched: dict[str, set[str]] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        for metric in resource["Properties"].get("Metrics", []):
            stat = metric.get("MetricStat", {}).get("Metric", {})
            for dimension in stat.get("Dimensions", []):
                if dimension["Name"] == "StateMachineArn":
                    watched.setdefault(dimension["Value"]["Ref"], set()).add(stat["MetricName"])
    assert machines == {"StartInstanceStateMachine", "StopInstanceStateMachine", "LeaseWatcherStateMachine"}
    ended_badly = {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for machine in machines:
        assert watched.get(machine) == ended_badly, machine


def test_the_signing_secret_is_generated_as_base64_characters() -> None:
    generate = load_template()["Resources"]["WebhookSigningSecret"]["Properties"]["GenerateSecretString"]
    assert generate["ExcludePunctuation"] is True
    assert generate["PasswordLength"] % 4 == 0  # alphanumerics in groups of 4: valid base64


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            {"WEBHOOK_DLQ_URL": "https://sqs/dlq", "WEBHOOK_SIGNING_SECRET": "whsec_" + "A" * 32},
            "WEBHOOK_QUEUE_URL",
        ),
        (
            {"WEBHOOK_QUEUE_URL": "https://sqs/q", "WEBHOOK_SIGNING_SECRET": "whsec_" + "A" * 32},
            "WEBHOOK_DLQ_URL",
        ),
        (
            {"WEBHOOK_QUEUE_URL": "https://sqs/q", "WEBHOOK_DLQ_URL": "https://sqs/dlq"},
            "WEBHOOK_SIGNING_SECRET",
        ),
    ],
)
def test_a_misconfigured_dispatcher_fails_at_cold_start_naming_the_setting(
    settings: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named), function_environment({}):
        WebhookDispatcherSettings.load(**settings)
