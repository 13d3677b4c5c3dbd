"""What the local engine builds, read from ``template.yaml``: names, ARNs, functions, state machines.

Nothing here talks to AWS or moto, so ``asl_check`` can render a definition with the same values the
engine would use. Names are deterministic: a resource's own name property when the template sets
one, else ``<stack>-<LogicalId>``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from novita_local.engine.resolve import Intrinsics, TemplateResolutionError

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
DEFAULT_STACK_NAME = "novita-local"

FUNCTION_TYPES = frozenset({"AWS::Serverless::Function", "AWS::Lambda::Function"})
STATE_MACHINE_TYPES = frozenset({"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"})
TABLE_TYPES = frozenset({"AWS::DynamoDB::Table"})
LAYER_TYPES = frozenset({"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"})

# The property that carries a resource's own name, per type.
_NAME_PROPERTY = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
}
# Types whose Ref is the ARN rather than the name.
_REF_IS_ARN = frozenset(
    {
        "AWS::Serverless::StateMachine",
        "AWS::StepFunctions::StateMachine",
        "AWS::SNS::Topic",
        "AWS::SecretsManager::Secret",
        "AWS::Serverless::LayerVersion",
        "AWS::Lambda::LayerVersion",
    }
)
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


@dataclass(frozen=True)
class AwsPlace:
    account_id: str = DEFAULT_ACCOUNT_ID
    region: str = DEFAULT_REGION
    partition: str = "aws"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler_file: Path
    handler_attribute: str
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]
    timeout_seconds: int
    memory_mb: int
    runtime: str


@dataclass(frozen=True)
class SqsEventSource:
    """A function's ``Events`` entry of ``Type: SQS`` (Lambda's queue poller)."""

    queue_logical_id: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    definition: str
    type: str
    substitutions: dict[str, str] = field(default_factory=dict)


class TemplateWiring:
    """Local names, ARNs and resolved properties for every resource of a (SAM) template."""

    def __init__(
        self,
        template: dict[str, Any],
        template_dir: Path,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        place: AwsPlace | None = None,
        parameter_overrides: dict[str, str] | None = None,
    ) -> None:
        self.template = template
        self.template_dir = template_dir
        self.stack_name = stack_name
        self.place = place or AwsPlace()
        self.resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self._parameters = template.get("Parameters", {})
        self._parameter_overrides = dict(parameter_overrides or {})
        # Values only known once a resource exists (e.g. a secret ARN's random suffix).
        self._actual: dict[tuple[str, str], str] = {}
        self.intrinsics = Intrinsics(self.ref, self.get_att, template.get("Conditions"))

    # --- names and ARNs ------------------------------------------------------------------------

    def type_of(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateResolutionError(
                f"{logical_id!r} is neither a parameter nor a resource of the template"
            )
        resource_type: str = resource["Type"]
        return resource_type

    def properties(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resources[logical_id].get("Properties") or {}
        return props

    def record_actual(self, logical_id: str, attribute: str, value: str) -> None:
        self._actual[(logical_id, attribute)] = value

    def physical_name(self, logical_id: str) -> str:
        resource_type = self.type_of(logical_id)
        name_property = _NAME_PROPERTY.get(resource_type)
        declared = self.properties(logical_id).get(name_property) if name_property else None
        if declared is not None:
            return self.intrinsics.resolve_str(declared, f"{logical_id}.{name_property}")
        name = f"{self.stack_name}-{logical_id}"[:64]
        if resource_type == "AWS::SQS::Queue" and self.properties(logical_id).get("FifoQueue"):
            name = f"{name[:59]}.fifo"
        return name

    def arn(self, logical_id: str) -> str:
        actual = self._actual.get((logical_id, "Arn"))
        if actual is not None:
            return actual
        resource_type = self.type_of(logical_id)
        name = self.physical_name(logical_id)
        p, region, account = self.place.partition, self.place.region, self.place.account_id
        patterns = {
            "AWS::Serverless::Function": f"arn:{p}:lambda:{region}:{account}:function:{name}",
            "AWS::Lambda::Function": f"arn:{p}:lambda:{region}:{account}:function:{name}",
            "AWS::SQS::Queue": f"arn:{p}:sqs:{region}:{account}:{name}",
            "AWS::DynamoDB::Table": f"arn:{p}:dynamodb:{region}:{account}:table/{name}",
            "AWS::Events::EventBus": f"arn:{p}:events:{region}:{account}:event-bus/{name}",
            "AWS::Events::Rule": f"arn:{p}:events:{region}:{account}:rule/{name}",
            "AWS::Serverless::StateMachine": f"arn:{p}:states:{region}:{account}:stateMachine:{name}",
            "AWS::StepFunctions::StateMachine": f"arn:{p}:states:{region}:{account}:stateMachine:{name}",
            "AWS::SNS::Topic": f"arn:{p}:sns:{region}:{account}:{name}",
            "AWS::SecretsManager::Secret": f"arn:{p}:secretsmanager:{region}:{account}:secret:{name}",
            "AWS::Serverless::LayerVersion": f"arn:{p}:lambda:{region}:{account}:layer:{name}:1",
            "AWS::Lambda::LayerVersion": f"arn:{p}:lambda:{region}:{account}:layer:{name}:1",
            "AWS::IAM::Role": f"arn:{p}:iam::{account}:role/{name}",
            "AWS::Logs::LogGroup": f"arn:{p}:logs:{region}:{account}:log-group:{name}:*",
        }
        if resource_type in patterns:
            return patterns[resource_type]
        service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "cloudformation"
        return f"arn:{p}:{service}:{region}:{account}:{name}"

    def queue_url(self, logical_id: str) -> str:
        name = self.physical_name(logical_id)
        return f"https://sqs.{self.place.region}.amazonaws.com/{self.place.account_id}/{name}"

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.place.region,
            "AWS::AccountId": self.place.account_id,
            "AWS::Partition": self.place.partition,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:{self.place.partition}:cloudformation:{self.place.region}:{self.place.account_id}"
                f":stack/{self.stack_name}/local"
            ),
        }
        if name in pseudo:
            return pseudo[name]
        if name in self._parameters:
            return self._parameter_value(name)
        resource_type = self.type_of(name)
        if resource_type == "AWS::SQS::Queue":
            return self.queue_url(name)
        if resource_type in _REF_IS_ARN:
            return self.arn(name)
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        actual = self._actual.get((logical_id, attribute))
        if actual is not None:
            return actual
        resource_type = self.type_of(logical_id)
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in {"Name", "QueueName", "TableName", "FunctionName", "TopicName"}:
            return self.physical_name(logical_id)
        if attribute == "QueueUrl" and resource_type == "AWS::SQS::Queue":
            return self.queue_url(logical_id)
        if attribute == "StreamArn" and resource_type in TABLE_TYPES:
            return f"{self.arn(logical_id)}/stream/local"
        raise TemplateResolutionError(
            f"Fn::GetAtt {logical_id}.{attribute} is not supported by the local engine"
        )

    def _parameter_value(self, name: str) -> str:
        if name in self._parameter_overrides:
            return self._parameter_overrides[name]
        declared = self._parameters[name]
        if "Default" not in declared:
            raise TemplateResolutionError(
                f"template parameter {name} has no Default; pass it in parameter_overrides"
            )
        return str(declared["Default"])

    # --- functions -----------------------------------------------------------------------------

    def function_ids(self) -> list[str]:
        return [lid for lid, res in self.resources.items() if res.get("Type") in FUNCTION_TYPES]

    def function_spec(self, logical_id: str) -> FunctionSpec:
        props = self._function_properties(logical_id)
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateResolutionError(f"{logical_id}: the local engine needs a local CodeUri directory")
        handler = props.get("Handler")
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateResolutionError(
                f"{logical_id}: Handler must look like 'module.function', got {handler!r}"
            )
        module_path, attribute = handler.rsplit(".", 1)
        code_dir = (self.template_dir / code_uri).resolve()
        variables = (props.get("Environment") or {}).get("Variables") or {}
        environment = {
            key: self.intrinsics.resolve_str(value, f"{logical_id}.Environment.{key}")
            for key, value in variables.items()
        }
        return FunctionSpec(
            logical_id=logical_id,
            name=self.physical_name(logical_id),
            arn=self.arn(logical_id),
            code_dir=code_dir,
            handler_file=code_dir / (module_path.replace(".", "/") + ".py"),
            handler_attribute=attribute,
            environment=environment,
            layer_dirs=tuple(self._layer_dirs(logical_id, props.get("Layers") or [])),
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            runtime=str(props.get("Runtime", "python3.12")),
        )

    def sqs_event_source(self, function_logical_id: str) -> SqsEventSource:
        queues_by_arn = {
            self.arn(lid): lid for lid, res in self.resources.items() if res.get("Type") == "AWS::SQS::Queue"
        }
        events = self._function_properties(function_logical_id).get("Events") or {}
        for event in events.values():
            if event.get("Type") != "SQS":
                continue
            props = event.get("Properties") or {}
            queue_arn = self.intrinsics.resolve_str(props.get("Queue"), f"{function_logical_id}.Events.Queue")
            if queue_arn not in queues_by_arn:
                raise TemplateResolutionError(
                    f"{function_logical_id}: event queue {queue_arn} is not in the template"
                )
            return SqsEventSource(
                queue_logical_id=queues_by_arn[queue_arn],
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (props.get("FunctionResponseTypes") or []),
            )
        raise TemplateResolutionError(f"{function_logical_id} has no SQS event source in the template")

    def _function_properties(self, logical_id: str) -> dict[str, Any]:
        """The function's properties with SAM ``Globals.Function`` applied (maps merged, lists added)."""
        own = self.properties(logical_id)
        if self.type_of(logical_id) != "AWS::Serverless::Function":
            return own
        merged = copy.deepcopy((self.template.get("Globals") or {}).get("Function") or {})
        for key, value in own.items():
            if key == "Environment":
                variables = {**(merged.get("Environment") or {}).get("Variables", {})}
                variables.update((value or {}).get("Variables") or {})
                merged["Environment"] = {"Variables": variables}
            elif key == "Layers":
                merged["Layers"] = [*merged.get("Layers", []), *value]
            else:
                merged[key] = value
        return merged

    def _layer_dirs(self, logical_id: str, layers: list[Any]) -> list[Path]:
        dirs: list[Path] = []
        for layer in layers:
            layer_id = layer.get("Ref") if isinstance(layer, dict) else None
            if layer_id is None or layer_id not in self.resources:
                continue  # a layer from outside the template: nothing local to import
            if self.type_of(layer_id) not in LAYER_TYPES:
                raise TemplateResolutionError(f"{logical_id}: layer {layer_id} is not a LayerVersion")
            props = self.properties(layer_id)
            content = props.get("ContentUri") or props.get("Content")
            if not isinstance(content, str):
                raise TemplateResolutionError(
                    f"{layer_id}: the local engine needs a local ContentUri directory"
                )
            root = (self.template_dir / content).resolve()
            # A built Python layer keeps its modules under python/; a SAM source layer at its root.
            dirs.append(root / "python" if (root / "python").is_dir() else root)
        return dirs

    # --- state machines ------------------------------------------------------------------------

    def state_machine_ids(self) -> list[str]:
        return [lid for lid, res in self.resources.items() if res.get("Type") in STATE_MACHINE_TYPES]

    def state_machine_spec(self, logical_id: str) -> StateMachineSpec:
        props = self.properties(logical_id)
        substitutions = {
            key: self.intrinsics.resolve_str(value, f"{logical_id}.DefinitionSubstitutions.{key}")
            for key, value in (props.get("DefinitionSubstitutions") or {}).items()
        }
        definition = substitute_definition(self.definition_text(logical_id), substitutions, logical_id)
        return StateMachineSpec(
            logical_id=logical_id,
            name=self.physical_name(logical_id),
            arn=self.arn(logical_id),
            definition=definition,
            type=str(props.get("Type", props.get("StateMachineType", "STANDARD"))),
            substitutions=substitutions,
        )

    def definition_path(self, logical_id: str) -> Path | None:
        uri = self.properties(logical_id).get("DefinitionUri")
        return (self.template_dir / uri).resolve() if isinstance(uri, str) else None

    def definition_text(self, logical_id: str) -> str:
        props = self.properties(logical_id)
        path = self.definition_path(logical_id)
        if path is not None:
            return path.read_text(encoding="utf-8")
        if isinstance(props.get("Definition"), dict):
            return json.dumps(props["Definition"])
        if "DefinitionString" in props:
            return self.intrinsics.resolve_str(props["DefinitionString"], f"{logical_id}.DefinitionString")
        raise TemplateResolutionError(f"{logical_id}: no local DefinitionUri, Definition or DefinitionString")


def substitute_definition(text: str, substitutions: dict[str, str], where: str) -> str:
    """Replace every ``${Name}`` as CloudFormation does; a name without a value is an error."""
    missing = sorted({name for name in _SUBSTITUTION.findall(text) if name not in substitutions})
    if missing:
        raise TemplateResolutionError(f"{where}: no DefinitionSubstitutions for {', '.join(missing)}")
    return _SUBSTITUTION.sub(lambda match: substitutions[match.group(1)], text)


def substitution_names(text: str) -> list[str]:
    return sorted(set(_SUBSTITUTION.findall(text)))
