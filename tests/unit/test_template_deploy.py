"""What a deploy of template.yaml creates, read from SAM's own translation (the CloudFormation that
``sam deploy`` submits): the API's stages and deployments, each function's role, logs and retention,
the trigger's failure path and the bus's rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from novita_local.iam_grants import Grant, RoleGrants, grants_by_runner, resource_label
from novita_local.sam_translate import resources_of_type, translate
from novita_local.template import load_template

DEFAULT_RETENTION_DAYS = 30
#: Attached by SAM to every role it generates: the Lambda runtime's logs, and traces (Tracing: Active).
RUNTIME_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}


def on(resource: str, *actions: str) -> set[tuple[str, str]]:
    return {(action, resource) for action in actions}


NOVITA_CALLER = on("ResilienceTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem") | on(
    "NovitaApiKeySecret", "secretsmanager:GetSecretValue"
)
#: The lease watcher, named in the policies that start it (by name: it invokes WatchLeaseFunction).
LEASE_WATCHER = "LeaseWatcherStateMachine"  # granted by the ARN its name builds (a !GetAtt would be circular)
#: The rules that invoke the trigger (events on the bus, the example schedules).
RULES = ("ScheduledStartRule", "ScheduledStopRule", "StartInstanceRequestedRule", "StopInstanceRequestedRule")
STOP_WORKFLOW_FUNCTIONS = (
    "ResolveTargetFunction",
    "StopInstanceFunction",
    "PollStoppedFunction",
    "FinishOperationFunction",
)
WORKFLOW_FUNCTIONS = (
    "ResolveTargetFunction",
    "ResolveRegistryAuthFunction",
    "LaunchInstanceFunction",
    "PollStatusFunction",
    "CheckHealthFunction",
    "FinishOperationFunction",
)
#: Log delivery has no resource-level permissions (AWS documents Resource "*").
LOG_DELIVERY = ("Create", "Get", "Update", "Delete")
#: The shared status snapshot: read, refreshed under its lease, the operations waiting on it counted.
SNAPSHOT_USER = on(
    "StatusSnapshotTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"
)
#: Exactly what each function's code calls (read from its stores and clients), on its own resources.
EXPECTED_GRANTS: dict[str, set[tuple[str, str]]] = {
    "ResolveTargetFunction": NOVITA_CALLER
    | SNAPSHOT_USER
    | on(
        "OperationsTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ),
    "ResolveRegistryAuthFunction": NOVITA_CALLER,
    "LaunchInstanceFunction": NOVITA_CALLER
    | on("OperationsTable", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
    "PollStatusFunction": NOVITA_CALLER
    | SNAPSHOT_USER
    | on("OperationsTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"),
    "CheckHealthFunction": NOVITA_CALLER | on("OperationsTable", "dynamodb:UpdateItem"),
    "FinishOperationFunction": on(
        "OperationsTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    )
    | on(LEASE_WATCHER, "states:StartExecution"),
    "WatchLeaseFunction": on("OperationsTable", "dynamodb:GetItem", "dynamodb:PutItem")
    | on("StopInstanceStateMachine", "states:StartExecution")
    | on(LEASE_WATCHER, "states:StartExecution"),
    "ApiFunction": NOVITA_CALLER
    | SNAPSHOT_USER
    # An accepted operation is recorded (put) before its execution starts; failed if it cannot start.
    | on("OperationsTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
    | on(
        "IdempotencyTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    )
    | on("WebhookDeadLetterQueue", "sqs:GetQueueAttributes")
    | on("StartInstanceStateMachine", "states:StartExecution")
    | on("StopInstanceStateMachine", "states:StartExecution")
    # A cancel: the execution stopped, the lock released, the terminal notification and event sent.
    | on("StartInstanceStateMachine:*", "states:StopExecution")
    | on("StopInstanceStateMachine:*", "states:StopExecution")
    | on("OperationsTable", "dynamodb:DeleteItem")
    | on("WebhookQueue", "sqs:SendMessage")
    | on("EventBus", "events:PutEvents"),
    "StartTriggerFunction": on("StartInstanceStateMachine", "states:StartExecution")
    | on("OperationsTable", "dynamodb:PutItem")
    | on("StopInstanceStateMachine", "states:StartExecution")
    | on("StartTriggerDeadLetterQueue", "sqs:SendMessage"),
    "StopInstanceFunction": NOVITA_CALLER | on("OperationsTable", "dynamodb:UpdateItem"),
    "PollStoppedFunction": NOVITA_CALLER | on("OperationsTable", "dynamodb:UpdateItem"),
    "WebhookDispatcherFunction": on(
        "WebhookQueue",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    )
    | on("WebhookDeadLetterQueue", "sqs:SendMessage")
    | on("WebhookSigningSecret", "secretsmanager:GetSecretValue")
    | on("WebhookDispatcherLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
    | on("*", "xray:PutTraceSegments", "xray:PutTelemetryRecords"),
    "StartInstanceStateMachine": {("lambda:InvokeFunction", function) for function in WORKFLOW_FUNCTIONS}
    | on("WebhookQueue", "sqs:SendMessage")
    | on("EventBus", "events:PutEvents")
    | on("*", *(f"logs:{verb}LogDelivery" for verb in LOG_DELIVERY))
    | on("*", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies")
    | on("*", "logs:DescribeLogGroups"),
    "LeaseWatcherStateMachine": on("WatchLeaseFunction", "lambda:InvokeFunction")
    | on("WebhookQueue", "sqs:SendMessage")
    | on("*", *(f"logs:{verb}LogDelivery" for verb in LOG_DELIVERY))
    | on("*", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies")
    | on("*", "logs:DescribeLogGroups"),
    "StopInstanceStateMachine": {("lambda:InvokeFunction", function) for function in STOP_WORKFLOW_FUNCTIONS}
    | on("WebhookQueue", "sqs:SendMessage")
    | on("EventBus", "events:PutEvents")
    | on("*", *(f"logs:{verb}LogDelivery" for verb in LOG_DELIVERY))
    | on("*", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies")
    | on("*", "logs:DescribeLogGroups"),
}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate()


@pytest.fixture(scope="module")
def grants(translated: dict[str, Any]) -> dict[str, RoleGrants]:
    return grants_by_runner(translated)


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


# --- the API: one stage, a new deployment when the security changes --------------------------------


def test_changing_api_auth_on_a_deployed_stack_deploys_the_new_security_to_v1():
    """The second deploy happens later; SAM must give it a new deployment, or v1 keeps the old methods."""
    first = translate({"ApiAuth": "API_KEY"}, now=1_800_000_000)
    second = translate({"ApiAuth": "IAM"}, now=1_800_000_600)

    first_id, _ = only(resources_of_type(first, "AWS::ApiGateway::Deployment"))
    second_id, _ = only(resources_of_type(second, "AWS::ApiGateway::Deployment"))
    assert first_id != second_id  # CloudFormation creates the new deployment and points v1 at it
    _, stage = only(resources_of_type(second, "AWS::ApiGateway::Stage"))
    assert stage["Properties"]["DeploymentId"] == {"Ref": second_id}
    # And the definition it deploys carries the security that ApiAuth picks.
    body = second["Resources"]["NovitaApi"]["Properties"]["Body"]
    security = body["paths"]["/instances"]["post"]["security"]
    assert security == {"Fn::If": ["UseApiKeyAuth", [{"api_key": []}], [{"sigv4": []}]]}


def test_only_the_v1_stage_exists(translated: dict[str, Any]):
    """SAM's implicit "Stage" stage had no throttling and no usage plan: IAM callers bypassed both."""
    stages = resources_of_type(translated, "AWS::ApiGateway::Stage")
    assert [stage["Properties"]["StageName"] for stage in stages.values()] == ["v1"]
    for deployment in resources_of_type(translated, "AWS::ApiGateway::Deployment").values():
        assert "StageName" not in deployment["Properties"]  # a deployment's StageName creates a stage
    _, stage = only(stages)
    [throttled] = stage["Properties"]["MethodSettings"]
    assert throttled["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    plan = translated["Resources"]["ApiUsagePlan"]["Properties"]
    assert plan["ApiStages"][0]["Stage"] == {"Ref": next(iter(stages))}


def test_api_access_logs_carry_the_request_id_to_a_log_group_with_retention(translated: dict[str, Any]):
    _, stage = only(resources_of_type(translated, "AWS::ApiGateway::Stage"))
    access = stage["Properties"]["AccessLogSetting"]
    assert resource_label(access["DestinationArn"]) == "ApiAccessLogGroup"
    record = json.loads(access["Format"])
    assert record["requestId"] == "$context.requestId"
    assert {"status", "httpMethod", "resourcePath", "ip"} <= set(record)
    # API Gateway logs only with the account's CloudWatch role set: the API waits for it when created here.
    api = translated["Resources"]["NovitaApi"]
    assert api["Metadata"]["CloudWatchRoleReady"]["Fn::If"][1] == {"Ref": "ApiGatewayAccount"}
    account = translated["Resources"]["ApiGatewayAccount"]
    assert account["Condition"] == "CreateApiGatewayCloudWatchRole"
    assert account["DeletionPolicy"] == "Retain"


# --- least privilege ---------------------------------------------------------------------------------


def test_each_function_and_the_state_machine_get_exactly_the_actions_they_call(
    grants: dict[str, RoleGrants],
):
    seen = {runner: {(g.action, g.resource) for g in role.grants} for runner, role in grants.items()}

    assert seen == EXPECTED_GRANTS


def test_no_role_gets_a_managed_policy_beyond_the_lambda_runtimes(grants: dict[str, RoleGrants]):
    """Managed policies are AWS's (AWSLambdaSQSQueueExecutionRole: sqs on *); only the runtime's remain."""
    extra = {runner: set(role.managed_policies) - RUNTIME_MANAGED_POLICIES for runner, role in grants.items()}

    assert {runner: policies for runner, policies in extra.items() if policies} == {}


def test_no_grant_allows_scans_batch_writes_or_wildcard_data_actions(grants: dict[str, RoleGrants]):
    broad = [
        (runner, grant)
        for runner, role in grants.items()
        for grant in role.grants
        if "*" in grant.action or grant.action.split(":")[1].startswith(("Scan", "Batch", "Transact"))
    ]

    assert broad == []


def test_the_grant_reader_names_resources_by_logical_id():
    assert resource_label({"Fn::GetAtt": ["OperationsTable", "Arn"]}) == "OperationsTable"
    assert resource_label({"Fn::Sub": "${OperationsTable.Arn}/index/*"}) == "OperationsTable/index/*"
    sam_template = {
        "Fn::Sub": [
            "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}",
            {"queueName": {"Fn::GetAtt": ["WebhookQueue", "QueueName"]}},
        ]
    }
    assert resource_label(sam_template) == "WebhookQueue"
    assert resource_label("*") == "*"
    assert Grant("sqs:SendMessage", "WebhookQueue") < Grant("sqs:SendMessage", "WebhookQueue2")


# --- logs -----------------------------------------------------------------------------------------------


def test_every_function_logs_to_its_own_log_group_with_the_retention_parameter(translated: dict[str, Any]):
    resources = translated["Resources"]
    functions = resources_of_type(translated, "AWS::Lambda::Function")
    groups = set()
    for logical_id, function in functions.items():
        group = resource_label(function["Properties"]["LoggingConfig"]["LogGroup"])
        assert resources[group]["Type"] == "AWS::Logs::LogGroup", logical_id
        groups.add(group)
    assert len(groups) == len(functions)  # one each
    for logical_id, log_group in resources_of_type(translated, "AWS::Logs::LogGroup").items():
        assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id
    assert load_template()["Parameters"]["LogRetentionDays"]["Default"] == DEFAULT_RETENTION_DAYS


def test_the_state_machines_log_errors_by_default_and_never_their_data(translated: dict[str, Any]):
    machines = resources_of_type(translated, "AWS::StepFunctions::StateMachine")
    assert sorted(machines) == [
        "LeaseWatcherStateMachine",
        "StartInstanceStateMachine",
        "StopInstanceStateMachine",
    ]
    for machine in machines.values():
        config = machine["Properties"]["LoggingConfiguration"]
        assert config["Level"] == {"Ref": "StateMachineLogLevel"}
        assert config["IncludeExecutionData"] is False
    assert load_template()["Parameters"]["StateMachineLogLevel"]["Default"] == "ERROR"


def test_the_dispatchers_queue_trigger_has_a_concurrency_cap(translated: dict[str, Any]):
    _, mapping = only(resources_of_type(translated, "AWS::Lambda::EventSourceMapping"))
    assert mapping["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "WebhookDispatcherMaxConcurrency"}
    }
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# --- the EventBridge front door ---------------------------------------------------------------------


def test_a_start_the_trigger_cannot_make_is_parked_and_alarmed_not_dropped(translated: dict[str, Any]):
    resources = translated["Resources"]
    _, invoke_config = only(resources_of_type(translated, "AWS::Lambda::EventInvokeConfig"))
    config = invoke_config["Properties"]
    assert resource_label(config["FunctionName"]) == "StartTriggerFunction"
    on_failure = config["DestinationConfig"]["OnFailure"]["Destination"]
    queue = resource_label(on_failure)
    assert resources[queue]["Type"] == "AWS::SQS::Queue"
    # EventBridge itself failing to invoke the trigger (throttled, deleted, ...) parks in the same queue.
    for rule_id in ("StartInstanceRequestedRule", "ScheduledStartRule"):
        [target] = resources[rule_id]["Properties"]["Targets"]
        assert resource_label(target["DeadLetterConfig"]["Arn"]) == queue, rule_id
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    [policy] = [
        p
        for p in resources_of_type(translated, "AWS::SQS::QueuePolicy").values()
        if [resource_label(q) for q in p["Properties"]["Queues"]] == [queue]
    ]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(resource_label(s) for s in sources) == sorted(RULES)
    alarmed = [
        alarm
        for alarm in resources_of_type(translated, "AWS::CloudWatch::Alarm").values()
        if any(resource_label(d["Value"]) == queue for d in alarm["Properties"].get("Dimensions", []))
    ]
    assert len(alarmed) == 1


def test_only_the_workflow_may_put_lifecycle_events_on_the_bus(translated: dict[str, Any]):
    _, bus_policy = only(resources_of_type(translated, "AWS::Events::EventBusPolicy"))
    statement = bus_policy["Properties"]["Statement"]
    effect = (statement["Effect"], statement["Principal"], statement["Action"])
    assert effect == ("Deny", "*", "events:PutEvents")
    assert statement["Condition"]["ForAnyValue:StringEquals"] == {"events:source": "novita-orchestrator"}
    allowed = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    machine_roles = [
        translated["Resources"][machine]["Properties"]["RoleArn"]
        for machine in ("StartInstanceStateMachine", "StopInstanceStateMachine")
    ]
    assert allowed == machine_roles
