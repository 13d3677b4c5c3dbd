"""The embedded local AWS engine: the template's state machines, functions, queues, tables and buses
on moto, in this process.

moto's Step Functions interpreter (its ASL parser, enabled by ``execute_state_machine``) runs the
real ``statemachine/*.asl.json`` with the template's ``DefinitionSubstitutions`` applied; Lambda
tasks call the real handlers in process (:mod:`novita_local.engine.lambda_patch`); Wait states and
Retry pauses are time-scaled (:mod:`novita_local.engine.timing`). Everything is created from
``template.yaml``, so the template stays the one source of truth.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict

import boto3
from moto import mock_aws
from moto.sqs.models import sqs_backends

from novita_local.engine.atomic_dynamodb import atomic_dynamodb_requests
from novita_local.engine.interpreter_cache import cached_interpreter
from novita_local.engine.lambda_patch import (
    InjectedFailure,
    InProcessFunction,
    InProcessLambdas,
    Invocation,
    PinnedEnvironment,
    in_process_lambda_backend,
)
from novita_local.engine.timing import scaled_waits
from novita_local.engine.wiring import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    TABLE_TYPES,
    AwsPlace,
    TemplateWiring,
)
from novita_local.permissions import Names, session_recorder
from novita_local.template import TEMPLATE_PATH, load_template, table_create_kwargs, table_ttl_attribute

_ROLE_NAME = "novita-local-engine-role"
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
)
_STOP_GRACE_SECONDS = 10.0
# The credentials moto's mock puts in os.environ when it starts; its own undo removes one that was "".
_MOCK_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

# moto patches process-wide state (its mock, the Lambda backend, the interpreter's waits).
_ACTIVE_LOCK = threading.Lock()
_active_engine: LocalEngine | None = None


def active_engine() -> LocalEngine | None:
    """The engine running in this process, if one is (there is at most one)."""
    with _ACTIVE_LOCK:
        return _active_engine


class EngineError(Exception):
    """The engine cannot do what was asked (not started, unknown logical id, ...)."""


class ExecutionOutcome(TypedDict):
    status: str
    output: Any
    error: str | None
    cause: str | None


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    body: str
    attributes: dict[str, Any]

    def json(self) -> Any:
        return json.loads(self.body)


class LocalEngine:
    """Run a SAM template's state machines and functions on moto, in this process.

    Use as a context manager (or ``start()`` / ``stop()``). Only one engine can run at a time in a
    process: moto's mock and the patches are process-wide.
    """

    def __init__(
        self,
        template_path: Path | str,
        *,
        wait_scale: float = 1.0,
        environment_overrides: Mapping[str, str] | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.wait_scale = wait_scale
        self.wiring = TemplateWiring(
            load_template(self.template_path),
            self.template_path.parent,
            stack_name=stack_name,
            place=AwsPlace(region=region),
            parameter_overrides=dict(parameter_overrides or {}),
        )
        self._environment_overrides = dict(environment_overrides or {})
        self._lambdas = InProcessLambdas()
        self._stack: ExitStack | None = None
        self._added_paths: list[str] = []
        self._state_machine_arns: dict[str, str] = {}
        self._names: Names | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalEngine:
        global _active_engine
        with _ACTIVE_LOCK:
            if _active_engine is not None:
                raise EngineError("another LocalEngine is running in this process; stop it first")
            _active_engine = self
        stack = ExitStack()
        try:
            # First in, last out: the process's environment comes back after moto's mock has undone its own.
            place = self.wiring.place
            pinned = {"AWS_REGION": place.region, "AWS_DEFAULT_REGION": place.region}
            stack.enter_context(PinnedEnvironment(pinned, also_restored=_MOCK_CREDENTIAL_KEYS).installed())
            stack.enter_context(
                mock_aws(
                    config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
                )
            )
            stack.enter_context(in_process_lambda_backend(self._lambdas))
            stack.enter_context(scaled_waits(self.wait_scale))
            stack.enter_context(cached_interpreter())
            stack.enter_context(atomic_dynamodb_requests())
            stack.callback(self._lambdas.unload_all)
            stack.enter_context(self._layer_paths())
            recorder = session_recorder()
            if recorder is not None and self.template_path == TEMPLATE_PATH:
                # The test run proves the project's least privilege (novita_local.permissions).
                self._names = Names.of(self.wiring)
                stack.enter_context(recorder.recording(self._names))
            self._stack = stack
            self._create_resources()
        except BaseException:
            self._stack = None
            stack.close()
            with _ACTIVE_LOCK:
                _active_engine = None
            raise
        return self

    def stop(self) -> None:
        global _active_engine
        if self._stack is None:
            return
        try:
            self._stop_running_executions()
            # A handler whose Task timed out keeps running; let it finish while AWS is still mocked.
            self._lambdas.wait_idle(timeout=_STOP_GRACE_SECONDS)
            self._record_state_machine_calls()
        finally:
            stack, self._stack = self._stack, None
            stack.close()
            with _ACTIVE_LOCK:
                _active_engine = None

    # --- what callers use ----------------------------------------------------------------------

    def restart_functions(self) -> None:
        """Every function cold-starts at its next invocation (a new container: its collaborators,
        built at init, are built afresh)."""
        self._require_started()
        self._lambdas.unload_all()

    def boto_client(self, service: str) -> Any:
        self._require_started()
        return boto3.client(service, region_name=self.wiring.place.region)

    def resource_name(self, logical_id: str) -> str:
        return self.wiring.physical_name(logical_id)

    def resource_arn(self, logical_id: str) -> str:
        return self.wiring.arn(logical_id)

    def queue_url(self, logical_id: str) -> str:
        return self.wiring.queue_url(logical_id)

    def state_machine_definition(self, logical_id: str) -> str:
        """The definition as the engine created it (substitutions applied)."""
        return self.wiring.state_machine_spec(logical_id).definition

    def start_execution(
        self, state_machine_logical_id: str, input: Mapping[str, Any], name: str | None = None
    ) -> str:
        self._require_started()
        arn = self._state_machine_arns.get(state_machine_logical_id)
        if arn is None:
            raise EngineError(f"{state_machine_logical_id!r} is not a state machine of the template")
        response = self.boto_client("stepfunctions").start_execution(
            stateMachineArn=arn, name=name or str(uuid.uuid4()), input=json.dumps(input)
        )
        execution_arn: str = response["executionArn"]
        return execution_arn

    def describe_execution(self, execution_arn: str) -> ExecutionOutcome:
        described = self.boto_client("stepfunctions").describe_execution(executionArn=execution_arn)
        output = described.get("output")
        return ExecutionOutcome(
            status=described["status"],
            output=_parse_output(output),
            error=described.get("error"),
            cause=described.get("cause"),
        )

    def wait_for_execution(self, execution_arn: str, timeout: float = 60.0) -> ExecutionOutcome:
        """Poll until the execution ends; TimeoutError (naming its last state) if it does not in time."""
        deadline = time.monotonic() + timeout
        while True:
            outcome = self.describe_execution(execution_arn)
            if outcome["status"] in _TERMINAL:
                return outcome
            if time.monotonic() >= deadline:
                history = self.execution_history(execution_arn)
                last = history[-1]["type"] if history else "nothing"
                raise TimeoutError(
                    f"execution still {outcome['status']} after {timeout}s (last event: {last})"
                )
            time.sleep(0.02)

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        client = self.boto_client("stepfunctions")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn}
        while True:
            page = client.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def queue_messages(self, queue_logical_id: str) -> list[QueueMessage]:
        """Every message on the queue (visible or in flight), oldest first, without receiving them."""
        self._require_started()
        place = self.wiring.place
        queue = sqs_backends[place.account_id][place.region].get_queue(self.resource_name(queue_logical_id))
        return [
            QueueMessage(message_id=m.id, body=m.body, attributes=dict(m.message_attributes or {}))
            for m in list(queue._messages)
        ]

    def deliver_queue_messages(
        self,
        function_logical_id: str,
        *,
        retry_failed_now: bool = False,
        max_batches: int = 100,
        on_received: Callable[[list[QueueMessage]], None] | None = None,
    ) -> int:
        """Play Lambda's SQS poller for the function's ``Events: Type: SQS`` until its queue shows nothing.

        Batches of up to BatchSize go to the handler; the messages it handled are deleted. Failed ones
        (the whole batch when the handler raises, or the ``batchItemFailures`` it returns when the event
        source has ``ReportBatchItemFailures``) stay on the queue: they come back after the queue's
        visibility timeout, or at once with ``retry_failed_now``, and the queue's redrive policy moves
        them to its dead-letter queue after ``maxReceiveCount`` receives, as on AWS. Returns how many
        messages were handled successfully. ``on_received`` sees each batch before the handler does
        (a watcher of the queue learns of every message, even one that arrived after it last looked).
        """
        self._require_started()
        source = self.wiring.sqs_event_source(function_logical_id)
        function = self._lambdas.find(self.resource_arn(function_logical_id))
        if function is None:
            raise EngineError(f"{function_logical_id!r} is not a function of the template")
        sqs = self.boto_client("sqs")
        queue_url = self.queue_url(source.queue_logical_id)
        queue_arn = self.resource_arn(source.queue_logical_id)
        handled = 0
        for _ in range(max_batches):
            received = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(source.batch_size, 10),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            if on_received is not None:
                on_received(
                    [
                        QueueMessage(
                            message_id=m["MessageId"],
                            body=m["Body"],
                            attributes=m.get("MessageAttributes") or {},
                        )
                        for m in received
                    ]
                )
            event = {"Records": [self._sqs_record(message, queue_arn) for message in received]}
            response, errored = self._lambdas.invoke(function, json.dumps(event).encode("utf-8"))
            failed = _failed_message_ids(response, errored, source.report_batch_item_failures, received)
            for message in received:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    handled += 1
                elif retry_failed_now:
                    sqs.change_message_visibility(
                        QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
        return handled

    def _sqs_record(self, message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {_lower_first(key): value for key, value in attribute.items()}
                for name, attribute in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": self.wiring.place.region,
        }

    def fail_next_invocation(
        self,
        function_logical_id: str,
        *,
        error_type: str = "Lambda.ServiceException",
        after_handler: bool = False,
    ) -> None:
        """Fault injection: the function's next invocation fails with ``error_type`` (a Lambda service
        error by default, which the state machine's Retry on ``Lambda.*`` covers); with ``after_handler``
        the handler runs first and only its answer is lost. Each call injects one failure."""
        self._require_started()
        if self._lambdas.find(self.resource_arn(function_logical_id)) is None:
            raise EngineError(f"{function_logical_id!r} is not a function of the template")
        failure = InjectedFailure(error_type=error_type, after_handler=after_handler)
        self._lambdas.inject_failure(function_logical_id, failure)

    def invocations(self, function_logical_id: str | None = None) -> list[Invocation]:
        """Handler calls so far (all functions, or one), oldest first."""
        calls = list(self._lambdas.invocations)
        return [c for c in calls if function_logical_id in (None, c.function_logical_id)]

    # --- building the stack --------------------------------------------------------------------

    def _require_started(self) -> None:
        if self._stack is None:
            raise EngineError("the engine is not started (use it as a context manager or call start())")

    @contextmanager
    def _layer_paths(self) -> Iterator[None]:
        for function_id in self.wiring.function_ids():
            for layer_dir in self.wiring.function_spec(function_id).layer_dirs:
                if str(layer_dir) not in sys.path and str(layer_dir) not in self._added_paths:
                    sys.path.append(str(layer_dir))
                    self._added_paths.append(str(layer_dir))
        try:
            yield
        finally:
            for path in self._added_paths:
                if path in sys.path:
                    sys.path.remove(path)
            self._added_paths.clear()

    def _create_resources(self) -> None:
        iam = self.boto_client("iam")
        role_arn: str = iam.create_role(RoleName=_ROLE_NAME, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        by_type: dict[str, list[str]] = {}
        for logical_id, resource in self.wiring.resources.items():
            by_type.setdefault(resource.get("Type", ""), []).append(logical_id)
        for logical_id in by_type.get("AWS::SecretsManager::Secret", []):
            self._create_secret(logical_id)
        # Dead-letter queues first: a redrive policy names an existing queue.
        queues = by_type.get("AWS::SQS::Queue", [])
        for logical_id in sorted(queues, key=lambda lid: "RedrivePolicy" in self.wiring.properties(lid)):
            self._create_queue(logical_id)
        for resource_type in TABLE_TYPES:
            for logical_id in by_type.get(resource_type, []):
                self._create_table(logical_id)
        for logical_id in by_type.get("AWS::Events::EventBus", []):
            self.boto_client("events").create_event_bus(Name=self.resource_name(logical_id))
        for logical_id in by_type.get("AWS::Events::Rule", []):
            self._create_rule(logical_id)
        for logical_id in self.wiring.function_ids():
            self._create_function(logical_id, role_arn)
        for logical_id in self.wiring.state_machine_ids():
            spec = self.wiring.state_machine_spec(logical_id)
            created = self.boto_client("stepfunctions").create_state_machine(
                name=spec.name, definition=spec.definition, roleArn=role_arn, type=spec.type
            )
            self._state_machine_arns[logical_id] = created["stateMachineArn"]

    def _create_secret(self, logical_id: str) -> None:
        props = self.wiring.intrinsics.resolve(self.wiring.properties(logical_id))
        secret = props.get("SecretString")
        if secret is None:
            generate = props.get("GenerateSecretString") or {}
            length = int(generate.get("PasswordLength", 32))
            secret = uuid.uuid4().hex * (length // 32 + 1)
            secret = secret[:length]
        created = self.boto_client("secretsmanager").create_secret(
            Name=self.resource_name(logical_id), SecretString=str(secret)
        )
        self.wiring.record_actual(logical_id, "Arn", created["ARN"])

    def _create_queue(self, logical_id: str) -> None:
        props = self.wiring.intrinsics.resolve(self.wiring.properties(logical_id))
        attributes = {key: _attribute_text(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        self.boto_client("sqs").create_queue(QueueName=self.resource_name(logical_id), Attributes=attributes)

    def _create_table(self, logical_id: str) -> None:
        resource = self.wiring.intrinsics.resolve(self.wiring.resources[logical_id])
        name = self.resource_name(logical_id)
        dynamodb = self.boto_client("dynamodb")
        dynamodb.create_table(**table_create_kwargs(resource, name))
        ttl_attribute = table_ttl_attribute(resource)
        if ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
            )

    def _create_rule(self, logical_id: str) -> None:
        """Pattern rules with their targets (an SQS target makes published events observable)."""
        props = self.wiring.intrinsics.resolve(self.wiring.properties(logical_id))
        if "EventPattern" not in props:
            return  # schedules do not fire on moto
        events = self.boto_client("events")
        name = self.resource_name(logical_id)
        bus = str(props.get("EventBusName", "default")).rsplit("/", 1)[-1]
        events.put_rule(
            Name=name,
            EventPattern=json.dumps(props["EventPattern"]),
            EventBusName=bus,
            State=props.get("State", "ENABLED"),
        )
        targets = [
            {key: value for key, value in target.items() if key in {"Id", "Arn", "Input", "InputPath"}}
            for target in props.get("Targets", [])
        ]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)

    def _create_function(self, logical_id: str, role_arn: str) -> None:
        spec = self.wiring.function_spec(logical_id)
        self.boto_client("lambda").create_function(
            FunctionName=spec.name,
            Runtime=spec.runtime,
            Role=role_arn,
            Handler=f"{spec.handler_file.stem}.{spec.handler_attribute}",
            Code={"ZipFile": _placeholder_zip()},
            Timeout=spec.timeout_seconds,
            MemorySize=spec.memory_mb,
            Environment={"Variables": spec.environment},
        )
        self._lambdas.add(InProcessFunction(spec, self.wiring.place, self._environment_overrides))

    def _record_state_machine_calls(self) -> None:
        """What each execution's state machine called (its history), for the permission proof."""
        recorder = session_recorder()
        if recorder is None or self._names is None:
            return
        client = self.boto_client("stepfunctions")
        for logical_id, arn in self._state_machine_arns.items():
            for page in client.get_paginator("list_executions").paginate(stateMachineArn=arn):
                for execution in page["executions"]:
                    history = self.execution_history(execution["executionArn"])
                    recorder.record_history(logical_id, history, self._names)

    def _stop_running_executions(self) -> None:
        client = self.boto_client("stepfunctions")
        for arn in self._state_machine_arns.values():
            for execution in client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")[
                "executions"
            ]:
                client.stop_execution(executionArn=execution["executionArn"], error="LocalEngine.Stopped")


def _failed_message_ids(
    response: bytes, errored: bool, report_item_failures: bool, received: list[dict[str, Any]]
) -> set[str]:
    if errored:
        return {message["MessageId"] for message in received}
    if not report_item_failures:
        return set()
    try:
        failures = json.loads(response or b"null") or {}
        return {str(item["itemIdentifier"]) for item in failures.get("batchItemFailures") or []}
    except (ValueError, TypeError, KeyError, AttributeError):
        # Lambda treats a malformed partial-batch response as a failure of the whole batch.
        return {message["MessageId"] for message in received}


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _parse_output(output: str | None) -> Any:
    if output is None:
        return None
    try:
        return json.loads(output)
    except ValueError:
        return output  # moto returns a string output without its JSON quotes


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _placeholder_zip() -> bytes:
    # moto wants a deployment package; the code itself is loaded from CodeUri by the engine.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()
