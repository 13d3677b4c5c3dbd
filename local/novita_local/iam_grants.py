"""What each function and state machine of a *translated* template may do (read from its IAM role).

SAM turns ``Policies`` (policy templates, statements) and event sources into a role per function;
only the translated template (:mod:`novita_local.sam_translate`) shows the role that is deployed.
This reads it back as :class:`Grant` s: one action on one resource, the resource named by the
logical ID it points at where the ARN is built from one (``OperationsTable``,
``OperationsTable/index/*``, ``*``), so a test can compare them with the calls a function makes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from novita_local.sam_translate import resources_of_type

#: Resource types whose ``Role`` property names the role they run with.
ROLE_USERS = ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
# The ARN SAM's policy templates build around a name (``...:stateMachine:${name}``): the name is what
# identifies the resource.
_ARN_AROUND_NAME = re.compile(
    r"^arn:\$\{AWS::Partition\}:[a-z0-9-]+:\$\{AWS::Region\}:\$\{AWS::AccountId\}:(?:[A-Za-z-]+[:/](?=\$\{))?"
)


#: The properties an explicit physical name is given in (SAM's ``Name`` becomes ``StateMachineName``).
_NAME_PROPERTIES = ("Name", "StateMachineName", "FunctionName", "TableName", "QueueName")


@dataclass(frozen=True, order=True)
class Grant:
    action: str
    resource: str


@dataclass
class RoleGrants:
    role: str
    grants: set[Grant] = field(default_factory=set)
    #: Managed policies attached to the role (their content is AWS's, not in the template).
    managed_policies: list[str] = field(default_factory=list)

    def actions_on(self, resource: str) -> set[str]:
        return {grant.action for grant in self.grants if grant.resource == resource}

    def resources(self) -> set[str]:
        return {grant.resource for grant in self.grants}


def role_of(translated: Mapping[str, Any], logical_id: str) -> str:
    """The logical ID of the role a function or state machine runs with."""
    resource = (translated.get("Resources") or {})[logical_id]
    role = (resource.get("Properties") or {}).get("Role") or (resource.get("Properties") or {}).get("RoleArn")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        return str(role["Fn::GetAtt"][0])
    raise ValueError(f"{logical_id}: its role is not a role of the template ({json.dumps(role)})")


def named_resources(translated: Mapping[str, Any]) -> dict[str, str]:
    """Resource label of each explicit ``Name`` -> its logical ID: an ARN built from the name (where a
    ``!GetAtt`` would make a circular reference) names that resource."""
    named: dict[str, str] = {}
    for logical_id, resource in (translated.get("Resources") or {}).items():
        properties = resource.get("Properties") or {}
        for key in _NAME_PROPERTIES:
            if isinstance(properties.get(key), dict):
                named[resource_label(properties[key])] = logical_id
    return named


def role_grants(translated: Mapping[str, Any], role_id: str) -> RoleGrants:
    """Every Allow (action, resource) of the role's inline policies, and its managed policy ARNs."""
    properties = (translated.get("Resources") or {})[role_id].get("Properties") or {}
    by_name = named_resources(translated)
    found = RoleGrants(role=role_id)
    for policy in properties.get("Policies") or []:
        for statement in _as_list((policy.get("PolicyDocument") or {}).get("Statement")):
            if statement.get("Effect") != "Allow":
                continue
            for action in _as_list(statement.get("Action")):
                for resource in _as_list(statement.get("Resource")):
                    label = resource_label(resource)
                    found.grants.add(Grant(str(action), by_name.get(label, label)))
    found.managed_policies = [resource_label(arn) for arn in properties.get("ManagedPolicyArns") or []]
    return found


def grants_by_runner(translated: Mapping[str, Any]) -> dict[str, RoleGrants]:
    """Each function's and state machine's grants, by its logical ID."""
    runners: dict[str, RoleGrants] = {}
    for resource_type in ROLE_USERS:
        for logical_id in resources_of_type(translated, resource_type):
            runners[logical_id] = role_grants(translated, role_of(translated, logical_id))
    return runners


def resource_label(value: Any) -> str:
    """A resource of a statement, named by the logical ID its ARN is built from where it is one."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), *_ = value.items()
        if function == "Ref":
            return str(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            named = attribute in {"Arn", "QueueName", "Name"}
            return str(logical_id) if named else f"{logical_id}.{attribute}"
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            return _sub_label(str(text), {name: resource_label(v) for name, v in variables.items()})
    return json.dumps(value, sort_keys=True)


def _sub_label(text: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return variables[name]
        if name.startswith("AWS::"):
            return match.group(0)
        return name.split(".", 1)[0]  # ${Table.Arn} -> Table

    substituted = _ARN_AROUND_NAME.sub("", text)
    return _SUB_VARIABLE.sub(replace, substituted)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def all_grants(grants: Mapping[str, RoleGrants]) -> Iterator[tuple[str, Grant]]:
    for runner, role in sorted(grants.items()):
        for grant in sorted(role.grants):
            yield runner, grant
