"""template.yaml's security rules: every API method is authenticated, and no policy grants a wildcard
action on a data resource (DynamoDB, SQS, Secrets Manager, EventBridge, Step Functions)."""

from __future__ import annotations

from typing import Any

import pytest

from novita_local.template import load_template

DATA_SERVICES = ("dynamodb", "sqs", "secretsmanager", "events", "states")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method"}
# SAM policy templates scoped to the one resource their parameter names.
SCOPED_POLICY_TEMPLATES = {
    "DynamoDBCrudPolicy": "TableName",
    "DynamoDBReadPolicy": "TableName",
    "DynamoDBWritePolicy": "TableName",
    "SQSSendMessagePolicy": "QueueName",
    "SQSPollerPolicy": "QueueName",
    "AWSSecretsManagerGetSecretValuePolicy": "SecretArn",
    "EventBridgePutEventsPolicy": "EventBusName",
    "StepFunctionsExecutionPolicy": "StateMachineName",
    "LambdaInvokePolicy": "FunctionName",
}
BROAD_MANAGED_POLICIES = ("FullAccess", "AdministratorAccess", "PowerUserAccess")


def _branches(value: Any) -> list[Any]:
    """Both outcomes of an ``Fn::If`` (what a parameter may choose), or the value itself."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, when_true, when_false = value["Fn::If"]
        return [*_branches(when_true), *_branches(when_false)]
    return [value]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def unauthenticated_methods(template: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    resources: dict[str, Any] = template.get("Resources", {})
    for logical_id, resource in resources.items():
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Api":
            auth = props.get("Auth") or {}
            has_default = bool(auth.get("DefaultAuthorizer")) or auth.get("ApiKeyRequired") is True
            paths = (props.get("DefinitionBody") or {}).get("paths") or {}
            for path, item in paths.items():
                for method, operation in item.items():
                    if method.lower() not in HTTP_METHODS:
                        continue
                    security = operation.get("security")
                    if security is None and has_default:
                        continue
                    if security is None or any(not branch for branch in _branches(security)):
                        problems.append(f"{logical_id}: {method.upper()} {path} has no security")
            if not paths and not has_default:
                problems.append(f"{logical_id}: no DefaultAuthorizer and no per-method security")
        elif kind == "AWS::ApiGateway::Method":
            if props.get("AuthorizationType", "NONE") == "NONE" and props.get("ApiKeyRequired") is not True:
                problems.append(f"{logical_id}: AuthorizationType NONE without an API key")
        elif kind == "AWS::Serverless::Function":
            for name, event in (props.get("Events") or {}).items():
                if event.get("Type") not in {"Api", "HttpApi"}:
                    continue
                event_props = event.get("Properties") or {}
                authorizer = (event_props.get("Auth") or {}).get("Authorizer")
                api = (event_props.get("RestApiId") or event_props.get("ApiId") or {}).get("Ref") or ""
                api_auth = ((resources.get(api) or {}).get("Properties") or {}).get("Auth") or {}
                if authorizer == "NONE" or (authorizer is None and not api_auth.get("DefaultAuthorizer")):
                    problems.append(f"{logical_id}: event {name} is not authenticated")
        elif kind == "AWS::Serverless::HttpApi":
            problems.append(f"{logical_id}: HTTP APIs are not allowed (no per-route IAM check here)")
    return problems


def _statements(policies: Any) -> list[tuple[str, Any]]:
    """(where, item) for every policy entry: managed names, SAM templates and inline statements."""
    found: list[tuple[str, Any]] = []
    for policy in _as_list(policies or []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(("statement", statement) for statement in _as_list(policy["Statement"]))
        else:
            found.append(("policy", policy))
    return found


def wildcard_grants(template: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        entries: list[tuple[str, Any]] = []
        if kind in {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"}:
            entries = _statements(props.get("Policies"))
        elif kind in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            entries = _statements([props.get("PolicyDocument") or {}])
        elif kind == "AWS::IAM::Role":
            for policy in props.get("Policies") or []:
                entries.extend(_statements([policy.get("PolicyDocument") or {}]))
            entries.extend(("managed", arn) for arn in props.get("ManagedPolicyArns") or [])
        for where, entry in entries:
            if where == "managed":
                # An ARN, or !Sub "arn:${AWS::Partition}:iam::aws:policy/...": only its name matters.
                arn = entry.get("Fn::Sub", entry) if isinstance(entry, dict) else entry
                problems.extend(_policy_problem(logical_id, str(arn)))
            elif where == "policy":
                problems.extend(_policy_problem(logical_id, entry))
            else:
                problems.extend(_statement_problems(logical_id, entry))
    return problems


def _policy_problem(logical_id: str, policy: Any) -> list[str]:
    if isinstance(policy, str):
        broad = any(word in policy for word in BROAD_MANAGED_POLICIES)
        return [f"{logical_id}: managed policy {policy} is too broad"] if broad else []
    if isinstance(policy, dict) and len(policy) == 1:
        name, params = next(iter(policy.items()))
        scope = SCOPED_POLICY_TEMPLATES.get(name)
        if scope is None:
            return [f"{logical_id}: policy template {name} is not known to be scoped"]
        value = (params or {}).get(scope)
        if value in (None, "", "*") or (isinstance(value, str) and "*" in value):
            return [f"{logical_id}: {name} is not scoped to one resource ({scope}={value!r})"]
        return []
    return [f"{logical_id}: unrecognised policy entry {policy!r}"]


def _statement_problems(logical_id: str, statement: dict[str, Any]) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
    resources = _as_list(statement.get("Resource", []))
    problems = []
    for action in actions:
        service = action.split(":", 1)[0].lower()
        if action == "*" or (service in DATA_SERVICES and "*" in action):
            problems.append(f"{logical_id}: wildcard action {action}")
        elif service in DATA_SERVICES and "*" in resources:
            problems.append(f"{logical_id}: {action} on Resource '*'")
    return problems


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_every_api_method_of_the_template_requires_auth(template: dict[str, Any]):
    assert unauthenticated_methods(template) == []
    # And there is an API to check: the rule is not vacuous.
    api = template["Resources"]["NovitaApi"]["Properties"]["DefinitionBody"]["paths"]
    assert {"/instances", "/instances/{ref}/start", "/health"} <= set(api)


def test_no_policy_of_the_template_grants_a_wildcard_action_on_a_data_resource(template: dict[str, Any]):
    assert wildcard_grants(template) == []


def test_the_checks_catch_an_open_method_and_wildcard_grants():
    bad = {
        "Resources": {
            "Api": {
                "Type": "AWS::Serverless::Api",
                "Properties": {
                    "DefinitionBody": {
                        "paths": {
                            "/open": {"get": {}},
                            "/half": {"post": {"security": {"Fn::If": ["C", [{"k": []}], []]}}},
                        }
                    }
                },
            },
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Policies": [
                        "AmazonDynamoDBFullAccess",
                        {"DynamoDBCrudPolicy": {"TableName": "*"}},
                        {"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:q"}]},
                        {
                            "Statement": [
                                {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": "*"}
                            ]
                        },
                    ]
                },
            },
        }
    }

    assert len(unauthenticated_methods(bad)) == 2
    assert len(wildcard_grants(bad)) == 4
