"""Least privilege proven by execution: every AWS call a function or state machine makes on the local
engine, checked against the role the *translated* template gives it.

* Functions: while a :class:`CallRecorder` records, every botocore client created inside a handler
  call (the engine's seam: the function's environment names it, ``AWS_LAMBDA_FUNCTION_NAME``) gets a
  ``before-call`` hook that records (function, IAM action, resource). Calls from worker threads use
  a client the function made, so they are the function's too.
* State machines: their service integrations (``sqs:sendMessage``, ``events:putEvents``, Lambda
  tasks, ``states:startExecution`` ...) are read from each execution's history when the engine stops.

Resources are named by the logical ID the physical name or ARN belongs to (``OperationsTable``,
``OperationsTable/index/*``), as :mod:`novita_local.iam_grants` names them. :func:`check` says which
calls a role does not allow, and which granted actions no call used and the skip file
(``tools/permissions-unused.yaml``) does not explain. ``python -m novita_local.permissions`` renders
docs/PERMISSIONS.md from recorded calls (``make permissions``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import botocore.session
import yaml

from novita_local.iam_grants import Grant, RoleGrants, grants_by_runner
from novita_local.sam_translate import translate
from novita_local.template import PROJECT_ROOT
from novita_orchestrator.environment import current_environment

SKIP_FILE = PROJECT_ROOT / "tools" / "permissions-unused.yaml"
#: Resource types a call can name, by the parameter values that name them.
_NAMED_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
    "AWS::Events::EventBus",
    "AWS::Serverless::Function",
    "AWS::Lambda::Function",
)
#: Where each service's calls name their resource.
_RESOURCE_PARAMETERS = ("TableName", "QueueUrl", "SecretId", "stateMachineArn", "FunctionName")
_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
#: Service integrations' IAM actions where they are not the resource's name capitalised.
_INTEGRATION_ACTIONS = {"lambda:invoke": "lambda:InvokeFunction"}


@dataclass(frozen=True, order=True)
class Call:
    runner: str  # the function's or state machine's logical ID
    action: str  # IAM action, e.g. dynamodb:GetItem
    resource: str  # logical ID label, or what the call named when no resource of the template has it


class Wiring(Protocol):
    """What the engine's template wiring tells about each resource (duck-typed: no import cycle)."""

    resources: dict[str, dict[str, Any]]

    def physical_name(self, logical_id: str) -> str: ...

    def arn(self, logical_id: str) -> str: ...

    def queue_url(self, logical_id: str) -> str: ...


@dataclass
class Names:
    """Physical names, ARNs and queue URLs of a template's resources -> their logical IDs."""

    by_value: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)  # function name -> logical ID
    state_machines: dict[str, str] = field(default_factory=dict)  # ARN -> logical ID

    @classmethod
    def of(cls, wiring: Wiring) -> Names:
        names = cls()
        for logical_id, resource in wiring.resources.items():
            kind = resource.get("Type")
            if kind not in _NAMED_TYPES:
                continue
            values = {wiring.physical_name(logical_id), wiring.arn(logical_id)}
            if kind == "AWS::SQS::Queue":
                values.add(wiring.queue_url(logical_id))
            names.by_value.update(dict.fromkeys(values, logical_id))
            if kind in _FUNCTION_TYPES:
                names.functions[wiring.physical_name(logical_id)] = logical_id
            if kind in _STATE_MACHINE_TYPES:
                names.state_machines[wiring.arn(logical_id)] = logical_id
        return names

    def label(self, value: str) -> str:
        if value in self.by_value:
            return self.by_value[value]
        # A secret's ARN ends with a random suffix; an execution's ARN names its state machine.
        for known, logical_id in self.by_value.items():
            if known.startswith("arn:") and value.startswith(known):
                return logical_id
        return value

    def resources_of(self, parameters: Mapping[str, Any]) -> list[str]:
        """The resources one call names (``*`` when it names none)."""
        found: list[str] = []
        for key in _RESOURCE_PARAMETERS:
            value = parameters.get(key)
            if isinstance(value, str):
                label = self.label(value)
                index = parameters.get("IndexName") if key == "TableName" else None
                found.append(f"{label}/index/*" if index else label)
        execution = parameters.get("executionArn")
        if isinstance(execution, str):  # states:StopExecution / DescribeExecution: one of a machine's
            machine, _, _name = execution.replace(":execution:", ":stateMachine:", 1).rpartition(":")
            found.append(f"{self.state_machines.get(machine, machine)}:<execution>")
        for entry in parameters.get("Entries") or []:  # events:PutEvents
            if isinstance(entry, Mapping):
                found.append(self.label(str(entry.get("EventBusName") or "default")))
        return found or ["*"]


class CallRecorder:
    """The calls seen, counted; safe to use from every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[Call] = Counter()

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls[call] += 1

    def merge(self, calls: Mapping[Call, int]) -> None:
        with self._lock:
            self.calls.update(calls)

    def save(self, path: Path) -> None:
        rows = [[c.runner, c.action, c.resource, n] for c, n in sorted(self.calls.items())]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CallRecorder:
        recorder = cls()
        for runner, action, resource, count in json.loads(path.read_text(encoding="utf-8")):
            recorder.calls[Call(runner, action, resource)] += int(count)
        return recorder

    @contextmanager
    def recording(self, names: Names) -> Iterator[None]:
        """Hook every botocore client a handler creates while the block runs (process-wide)."""
        original = botocore.session.Session.create_client

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            runner = names.functions.get(current_environment().get("AWS_LAMBDA_FUNCTION_NAME", ""))
            if runner is not None:
                client.meta.events.register("before-parameter-build", self._hook(runner, client, names))
            return client

        botocore.session.Session.create_client = create_client
        try:
            yield
        finally:
            botocore.session.Session.create_client = original

    def _hook(self, runner: str, client: Any, names: Names) -> Any:
        prefix = client.meta.service_model.signing_name

        def before_parameter_build(model: Any, params: Mapping[str, Any], **_: Any) -> None:
            for resource in names.resources_of(params):
                self.record(Call(runner, f"{prefix}:{model.name}", resource))

        return before_parameter_build

    def record_history(self, state_machine: str, events: Iterable[Mapping[str, Any]], names: Names) -> None:
        """The service integrations and Lambda tasks one execution of ``state_machine`` scheduled."""
        for event in events:
            lambda_task = event.get("lambdaFunctionScheduledEventDetails")
            if lambda_task:
                self.record(
                    Call(state_machine, "lambda:InvokeFunction", names.label(lambda_task["resource"]))
                )
            task = event.get("taskScheduledEventDetails")
            if task:
                integration = f"{task['resourceType']}:{task['resource'].split('.')[0]}"
                service, _, api = integration.partition(":")
                action = _INTEGRATION_ACTIONS.get(integration, f"{service}:{api[:1].upper()}{api[1:]}")
                parameters = json.loads(task.get("parameters") or "{}")
                for resource in names.resources_of(parameters):
                    self.record(Call(state_machine, action, resource))


#: The recorder of this process's test run, if one records (tests/conftest.py starts it).
_SESSION: CallRecorder | None = None


def start_session_recording() -> CallRecorder:
    global _SESSION
    _SESSION = CallRecorder()
    return _SESSION


def session_recorder() -> CallRecorder | None:
    return _SESSION


# --- the proof -----------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Unused:
    runner: str
    action: str
    resource: str


@dataclass
class Verdict:
    #: Calls the runner's role does not allow.
    denied: list[Call] = field(default_factory=list)
    #: Granted (action, resource) pairs no call used and the skip file does not list.
    unused: list[Unused] = field(default_factory=list)
    #: Skip-file entries that a call did use (the file must stay true).
    stale_skips: list[Unused] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.denied or self.unused or self.stale_skips)

    def lines(self) -> list[str]:
        out = [f"denied: {c.runner} called {c.action} on {c.resource}" for c in self.denied]
        out += [
            f"unused: {u.runner} is granted {u.action} on {u.resource} (no test used it; "
            f"remove it, or list it in {SKIP_FILE.name} with the reason)"
            for u in self.unused
        ]
        out += [f"stale skip: {u.runner} {u.action} on {u.resource} is used now" for u in self.stale_skips]
        return out


def allows(grant: Grant, call: Call) -> bool:
    action = fnmatch.fnmatchcase(call.action.lower(), grant.action.lower())
    return action and (grant.resource == "*" or fnmatch.fnmatchcase(call.resource, grant.resource))


def load_skips(path: Path = SKIP_FILE) -> dict[Unused, str]:
    """``{runner: {"<action> on <resource>": reason}}`` from the skip file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    skips: dict[Unused, str] = {}
    for runner, entries in data.items():
        for what, reason in (entries or {}).items():
            action, _, resource = str(what).partition(" on ")
            skips[Unused(str(runner), action, resource)] = str(reason)
    return skips


def check(
    calls: Iterable[Call],
    grants: Mapping[str, RoleGrants],
    *,
    skips: Mapping[Unused, str] | None = None,
    require_use: bool = True,
) -> Verdict:
    """Every call allowed by its runner's role; with ``require_use``, every grant used or skipped."""
    calls = sorted(set(calls))
    verdict = Verdict()
    used: set[Unused] = set()
    for call in calls:
        role = grants.get(call.runner)
        matching = [g for g in (role.grants if role else ()) if allows(g, call)]
        if not matching:
            verdict.denied.append(call)
        used.update(Unused(call.runner, g.action, g.resource) for g in matching)
    if require_use:
        skips = skips or {}
        for runner, role in sorted(grants.items()):
            for grant in sorted(role.grants):
                entry = Unused(runner, grant.action, grant.resource)
                if entry not in used and entry not in skips:
                    verdict.unused.append(entry)
        verdict.stale_skips = sorted(entry for entry in skips if entry in used)
    return verdict


def template_grants(template_path: Path) -> dict[str, RoleGrants]:
    return grants_by_runner(translate(template_path=template_path))


# --- the report ----------------------------------------------------------------------------------


def render(calls: Mapping[Call, int], grants: Mapping[str, RoleGrants], skips: Mapping[Unused, str]) -> str:
    """docs/PERMISSIONS.md: per function and state machine, what it was granted and what used it."""
    out = [
        "# Permissions",
        "",
        "<!-- generated by `make permissions` from the AWS calls recorded while the workflow, API,",
        "trigger and dispatcher tests ran; do not edit by hand -->",
        "",
        "Every function's and state machine's role as SAM translates the template, each granted action",
        "with the calls the tests made with it, or the reason it is granted without one",
        "(`tools/permissions-unused.yaml`). `make test` fails on a call a role does not allow and on a",
        "grant that is neither used nor explained.",
        "",
    ]
    for runner, role in sorted(grants.items()):
        out += [f"## {runner}", "", "| Action | Resource | Calls in the tests |", "|---|---|---|"]
        for grant in sorted(role.grants):
            count = sum(n for c, n in calls.items() if c.runner == runner and allows(grant, c))
            reason = skips.get(Unused(runner, grant.action, grant.resource))
            shown = str(count) if count else f"none: {reason}" if reason else "none"
            out.append(f"| `{grant.action}` | `{grant.resource}` | {shown} |")
        if role.managed_policies:
            out += ["", "Managed policies: " + ", ".join(f"`{p}`" for p in role.managed_policies)]
        out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render docs/PERMISSIONS.md from recorded AWS calls.")
    parser.add_argument("calls", type=Path, help="the calls a test run recorded (JSON)")
    parser.add_argument("output", type=Path, help="the Markdown file to write")
    parser.add_argument("--template", type=Path, default=PROJECT_ROOT / "template.yaml")
    args = parser.parse_args(argv)
    recorded = CallRecorder.load(args.calls).calls
    grants = template_grants(args.template)
    verdict = check(recorded, grants, skips=load_skips())
    args.output.write_text(render(recorded, grants, load_skips()), encoding="utf-8")
    for line in verdict.lines():
        print(line)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
