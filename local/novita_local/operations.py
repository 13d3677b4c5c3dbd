"""Run startup operations on the embedded engine and follow them.

The request is validated with the service's own model (the one the first Lambda uses), the real
state machine runs on the :class:`~novita_local.engine.LocalEngine`, progress is read from the
webhook queue as the workflow puts notifications there, and the final operation is read from the
operations table: what a caller of the deployed service would see.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from pydantic import ValidationError

from novita_local.engine import LocalEngine
from novita_local.engine.engine import ExecutionOutcome, QueueMessage
from novita_local.runtime import BadInput
from novita_local.template import TEMPLATE_PATH
from novita_orchestrator.api.starter import WorkflowStarter
from novita_orchestrator.clock import SYSTEM_CLOCK
from novita_orchestrator.settings import OutboundSettings
from novita_orchestrator.steps.watch_lease import lease_stop_operation_id
from novita_orchestrator.store.env_values_store import DynamoEnvValuesStore
from novita_orchestrator.store.operations_store import DynamoOperationsStore
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from novita_orchestrator.workflow.errors import InvalidRequest
from novita_orchestrator.workflow.notifications import TERMINAL_TYPES, outcomes_of
from novita_orchestrator.workflow.request import (
    OperationRequest,
    check_webhook_target,
    describe_validation_error,
    new_operation_id,
    state_machines_by_kind,
)

STATE_MACHINE = "StartInstanceStateMachine"
#: Runs the stop and delete operations.
STOP_STATE_MACHINE = "StopInstanceStateMachine"
WEBHOOK_QUEUE = "WebhookQueue"
DISPATCHER_FUNCTION = "WebhookDispatcherFunction"
OPERATIONS_TABLE = "OperationsTable"
STATUS_SNAPSHOT_TABLE = "StatusSnapshotTable"
EVENT_BUS = "EventBus"
#: An operation that ended well: ready (start, create), stopped, deleted.
SUCCEEDED_STATUSES = frozenset({"ready", "stopped", "deleted"})
#: What ``--json`` shows of an operation (the store keeps a few more bookkeeping attributes).
OPERATION_FIELDS = (
    "operationId",
    "kind",
    "target",
    "instanceId",
    "status",
    "phase",
    "phases",
    "notifications",
    "outcome",
)
#: Shown too when a create by GPU type landed on an offer: the product, the offer and the offers tried.
OFFER_FIELDS = ("productId", "offer", "offersTried")
_DESERIALIZER = TypeDeserializer()
_FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

NotificationListener = Callable[["Notification"], None]


# --- requests ----------------------------------------------------------------------------------


#: The command's flag for each request field: errors name what the user typed, not the API field.
FLAG_OF_FIELD = {
    "start.ref": "REF",
    "create.templateId": "--template",
    "create.productId": "--product",
    "create.name": "--name",
    "create.gpuNum": "--gpus",
    "create.rootfsSize": "--disk",
    "create.ports": "--ports",
    "create.envs": "--env",
    "webhook.url": "--webhook-url",
    "webhook": "--webhook-url",
    "healthCheck.port": "--health-port",
    "healthCheck.path": "--health-path",
    "timeoutSeconds": "--timeout",
}


def _flag_named(problems: str) -> str:
    """``create.gpuNum: ...`` -> ``--gpus: ...`` in each ``; ``-separated problem."""
    named = []
    for problem in problems.split("; "):
        where, sep, message = problem.partition(": ")
        flag = FLAG_OF_FIELD.get(where) or FLAG_OF_FIELD.get(where.rsplit(".", 1)[0])
        named.append(f"{flag}: {message}" if sep and flag else problem)
    return "; ".join(named)


def _validated(request: dict[str, Any], outbound: Mapping[str, str] | None = None) -> OperationRequest:
    """The request, or BadInput naming the flag; a webhook URL the dispatcher would refuse is refused now.

    ``outbound`` is the functions' environment (ALLOW_PRIVATE_NETWORK_TARGETS, WEBHOOK_ALLOWED_HOSTS):
    the same policy the API applies before it answers 202 (None: the caller checks it elsewhere).
    """
    try:
        parsed = OperationRequest.model_validate(request)
    except ValidationError as exc:
        raise BadInput(_flag_named(describe_validation_error(exc))) from None
    if outbound is None:
        return parsed
    settings = {k: v for k, v in outbound.items() if k in OutboundSettings.model_fields and v != ""}
    try:
        check_webhook_target(parsed, UrlPolicy.from_settings(OutboundSettings(**settings)))
    except InvalidRequest as error:
        raise BadInput(_flag_named(error.message.removeprefix("invalid request: "))) from None
    return parsed


def _common(
    webhook_url: str | None, health_port: int | None, health_path: str | None, timeout: float | None
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if webhook_url is not None:
        extra["webhook"] = {"url": webhook_url}
    if health_port is not None or health_path is not None:
        check: dict[str, Any] = {}
        if health_port is not None:
            check["port"] = health_port
        if health_path is not None:
            check["path"] = health_path
        extra["healthCheck"] = check
    if timeout is not None:
        extra["timeoutSeconds"] = timeout
    return extra


def start_request(
    ref: str,
    *,
    webhook_url: str | None = None,
    health_port: int | None = None,
    health_path: str | None = None,
    timeout: float | None = None,
    outbound: Mapping[str, str] | None = None,
    auto_stop: Mapping[str, float] | None = None,
) -> OperationRequest:
    """Start an existing instance by ID or exact name (``auto_stop``: its lease, e.g. afterSeconds)."""
    extra = _common(webhook_url, health_port, health_path, timeout) | _auto_stop(auto_stop)
    return _validated({"start": {"ref": ref}, **extra}, outbound)


def _auto_stop(auto_stop: Mapping[str, float] | None) -> dict[str, Any]:
    return {"autoStop": dict(auto_stop)} if auto_stop else {}


def stop_request(
    ref: str,
    *,
    webhook_url: str | None = None,
    timeout: float | None = None,
    outbound: Mapping[str, str] | None = None,
) -> OperationRequest:
    """Stop an existing instance by ID or exact name, until it is exited."""
    return _validated({"stop": {"ref": ref}, **_common(webhook_url, None, None, timeout)}, outbound)


def delete_request(
    ref: str,
    *,
    confirm: str,
    webhook_url: str | None = None,
    timeout: float | None = None,
    outbound: Mapping[str, str] | None = None,
) -> OperationRequest:
    """Delete an instance by ID or exact name; ``confirm`` repeats its exact name."""
    return _validated(
        {"delete": {"ref": ref, "confirm": confirm}, **_common(webhook_url, None, None, timeout)}, outbound
    )


def parse_envs(pairs: Iterable[str]) -> dict[str, str]:
    """``["K=V", ...]`` -> ``{"K": "V"}``; a bad entry is named by position (its value may be secret)."""
    envs: dict[str, str] = {}
    for position, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--env #{position}: expected KEY=VALUE")
        envs[key.strip()] = value
    return envs


def create_request(
    *,
    template_id: str,
    name: str,
    product_id: str | None = None,
    gpu: Mapping[str, Any] | None = None,
    gpus: int | None = None,
    disk: int | None = None,
    ports: str | None = None,
    envs: Mapping[str, str] | None = None,
    webhook_url: str | None = None,
    health_port: int | None = None,
    health_path: str | None = None,
    timeout: float | None = None,
    outbound: Mapping[str, str] | None = None,
    auto_stop: Mapping[str, float] | None = None,
) -> OperationRequest:
    """Create a new instance from a Novita template, on ``product_id`` or on the first offer with
    capacity for ``gpu`` (``{"type", "regions", "maxPricePerHour", "billing"}``; ``gpus`` is its count)."""
    create: dict[str, Any] = {"templateId": template_id, "name": name}
    if product_id is not None:
        create["productId"] = product_id
    if gpu is not None:
        create["gpu"] = {**gpu, **({"count": gpus} if gpus is not None else {})}
    elif gpus is not None:
        create["gpuNum"] = gpus
    if disk is not None:
        create["rootfsSize"] = disk
    if ports is not None:
        create["ports"] = ports
    if envs:
        create["envs"] = dict(envs)
    extra = _common(webhook_url, health_port, health_path, timeout) | _auto_stop(auto_stop)
    return _validated({"create": create, **extra}, outbound)


# --- what the workflow produces -----------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One message the workflow put on the webhook queue."""

    message_id: str
    webhook_url: str | None
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))

    @property
    def data(self) -> dict[str, Any]:
        data = self.event.get("data")
        return data if isinstance(data, dict) else {}

    @property
    def operation_id(self) -> str | None:
        value = self.data.get("operationId")
        return value if isinstance(value, str) else None

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES


def queued_notifications(engine: LocalEngine) -> list[Notification]:
    """Every notification on the webhook queue, oldest first (messages stay on the queue)."""
    return notifications_in(engine.queue_messages(WEBHOOK_QUEUE))


def notifications_in(messages: Iterable[QueueMessage]) -> list[Notification]:
    """The webhook-queue messages that are notifications, in their order."""
    found: list[Notification] = []
    for message in messages:
        try:
            body = json.loads(message.body)
        except ValueError:
            continue
        if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
            continue
        webhook = body.get("webhook")
        url = webhook.get("url") if isinstance(webhook, dict) else None
        found.append(Notification(message.message_id, url if isinstance(url, str) else None, body["event"]))
    return found


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets as JSON-friendly values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(inner) for inner in value]
    return value


def stored_operation(engine: LocalEngine, operation_id: str) -> dict[str, Any] | None:
    """The operation item (all its attributes), or None if the workflow never recorded it."""
    item = (
        engine.boto_client("dynamodb")
        .get_item(
            TableName=engine.resource_name(OPERATIONS_TABLE),
            Key={"pk": {"S": f"OP#{operation_id}"}, "sk": {"S": "OP"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if item is None:
        return None
    return {key: _plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


@dataclass
class Operation:
    """One execution of the startup workflow, as followed from here."""

    operation_id: str
    request: OperationRequest
    execution_arn: str
    notifications: list[Notification] = field(default_factory=list)
    execution: ExecutionOutcome | None = None
    record: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.execution is not None

    @property
    def status(self) -> str:
        if self.record and isinstance(self.record.get("status"), str):
            return str(self.record["status"])
        if self.execution is None:
            return "running"
        if self.execution["status"] == "SUCCEEDED":
            return outcomes_of(self.request.kind).success_status
        return "failed"

    @property
    def ready(self) -> bool:
        """Ended well: ready (start, create), stopped (stop), deleted (delete)."""
        return self.status in SUCCEEDED_STATUSES

    def notification_types(self) -> list[str]:
        return [n.type for n in self.notifications]

    def webhook_message_ids(self) -> list[str]:
        """The queue messages seen for this operation that carry a webhook URL (to be delivered)."""
        return [n.message_id for n in self.notifications if n.webhook_url]

    def summary(self) -> dict[str, Any]:
        """The final operation: the stored item's public fields, completed from what was seen here."""
        record = self.record or {}
        shown = {name: record.get(name) for name in OPERATION_FIELDS}
        if record.get("offer"):
            shown.update({name: record.get(name) for name in OFFER_FIELDS})
        shown["operationId"] = self.operation_id
        shown["kind"] = shown["kind"] or self.request.kind
        shown["target"] = shown["target"] or self.request.target
        shown["status"] = self.status
        shown["phases"] = shown["phases"] or {}
        shown["notifications"] = shown["notifications"] or self.notification_types()
        if shown["outcome"] is None and self.status == "failed":
            shown["outcome"] = self._failure_from_notifications()
        return shown

    def _failure_from_notifications(self) -> dict[str, Any]:
        for notification in reversed(self.notifications):
            error = notification.data.get("error")
            if isinstance(error, dict):
                return {"code": error.get("code"), "message": error.get("message")}
        ended_with = (self.execution["error"] if self.execution else None) or "an error"
        return {"code": "INTERNAL", "message": f"the workflow ended with {ended_with}"}


def start_operation(
    engine: LocalEngine, request: OperationRequest, operation_id: str | None = None
) -> Operation:
    """Start one execution (named by the operation ID) and return at once; a create's env values are
    stored as the API stores them, out of the execution's input."""
    op_id = operation_id or new_operation_id()
    dynamodb, table = engine.boto_client("dynamodb"), engine.resource_name("OperationsTable")
    machine = state_machines_by_kind(STATE_MACHINE, STOP_STATE_MACHINE)[request.kind]
    starter = WorkflowStarter(
        engine.boto_client("stepfunctions"),
        engine.resource_arn(STATE_MACHINE),
        engine.resource_arn(STOP_STATE_MACHINE),
        operations=DynamoOperationsStore(dynamodb, table),
        env_values=DynamoEnvValuesStore(dynamodb, table),
        clock=SYSTEM_CLOCK,
    )
    arn = engine.start_execution(machine, starter.execution_input(request, op_id), name=op_id)
    return Operation(operation_id=op_id, request=request, execution_arn=arn)


def lease_stop_operation(engine: LocalEngine, started: Operation, *, timeout: float = 600.0) -> Operation:
    """The stop the auto-stop lease of ``started`` starts when it runs out (its ID derives from the
    lease), once its execution exists; TimeoutError if it does not within ``timeout`` real seconds."""
    stop_id = lease_stop_operation_id(started.operation_id)
    stepfunctions = engine.boto_client("stepfunctions")
    machine = engine.resource_arn(STOP_STATE_MACHINE)
    deadline = time.monotonic() + timeout
    while True:
        listed = stepfunctions.list_executions(stateMachineArn=machine)["executions"]
        arn = next((e["executionArn"] for e in listed if e["name"] == stop_id), None)
        if arn is not None:
            break
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"the auto-stop lease of {started.operation_id} started no stop in {timeout:.0f} s"
            )
        time.sleep(0.05)
    webhook = started.request.webhook
    instance_id = str((started.record or {}).get("instanceId") or started.request.target)
    request = stop_request(instance_id, webhook_url=webhook.url if webhook else None)
    return Operation(operation_id=stop_id, request=request, execution_arn=arn)


def follow(
    engine: LocalEngine,
    operations: Sequence[Operation],
    *,
    on_notification: NotificationListener | None = None,
    timeout: float = 600.0,
    poll_interval: float = 0.05,
    deliver_webhooks: bool = False,
) -> None:
    """Watch the executions until they all end, reporting each new notification once, in order.

    With ``deliver_webhooks`` the webhook dispatcher drains the queue as the workflow fills it (a
    receiver hears of each phase while the operation runs, as on AWS); each message is reported
    before it is handed to the dispatcher.

    TimeoutError (naming the unfinished operations) when they do not end within ``timeout`` real
    seconds; the engine's ``stop()`` then stops them.
    """
    by_id = {op.operation_id: op for op in operations}
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    # One client for the whole watch: creating boto3 clients reads os.environ, which the engine
    # rewrites around every handler call running in other threads.
    stepfunctions = engine.boto_client("stepfunctions")

    def report(messages: Iterable[QueueMessage]) -> None:
        for notification in notifications_in(messages):
            if notification.message_id in seen:
                continue
            seen.add(notification.message_id)
            owner = by_id.get(notification.operation_id or "")
            if owner is None:
                continue
            owner.notifications.append(notification)
            if on_notification is not None:
                on_notification(notification)

    while True:
        pending = [op for op in operations if not op.finished]
        for op in pending:
            described = stepfunctions.describe_execution(executionArn=op.execution_arn)
            if described["status"] in _FINISHED:
                op.execution = _outcome(described)
        # Read the queue after the status: a finished execution's last message is already there.
        report(engine.queue_messages(WEBHOOK_QUEUE))
        if deliver_webhooks:
            engine.deliver_queue_messages(DISPATCHER_FUNCTION, on_received=report)
        if all(op.finished for op in operations):
            break
        if time.monotonic() >= deadline:
            unfinished = ", ".join(op.operation_id for op in operations if not op.finished)
            raise TimeoutError(f"operations still running after {timeout:.0f} s: {unfinished}")
        time.sleep(poll_interval)
    for op in operations:
        op.record = stored_operation(engine, op.operation_id)


def _outcome(described: Mapping[str, Any]) -> ExecutionOutcome:
    output = described.get("output")
    try:
        parsed = json.loads(output) if output is not None else None
    except ValueError:
        parsed = output
    return ExecutionOutcome(
        status=described["status"], output=parsed, error=described.get("error"), cause=described.get("cause")
    )


def run_operation(
    engine: LocalEngine,
    request: OperationRequest,
    *,
    operation_id: str | None = None,
    on_notification: NotificationListener | None = None,
    timeout: float = 600.0,
    deliver_webhooks: bool = False,
) -> Operation:
    """Start one operation and follow it to its end."""
    operation = start_operation(engine, request, operation_id)
    follow(
        engine,
        [operation],
        on_notification=on_notification,
        timeout=timeout,
        deliver_webhooks=deliver_webhooks,
    )
    return operation


def local_engine(
    environment: Mapping[str, str], *, time_scale: float = 1.0, template_path: Any = TEMPLATE_PATH
) -> LocalEngine:
    """The project's template on the embedded engine; ``environment`` reaches every function.

    With ``time_scale`` > 1 the state machine's waits shrink by that factor and the functions'
    ``TIME_SCALE`` matches it, so the workflow keeps pace with a time-scaled simulator.
    """
    overrides = dict(environment)
    if time_scale != 1.0:
        overrides["TIME_SCALE"] = _number_text(time_scale)
    return LocalEngine(template_path, wait_scale=1.0 / time_scale, environment_overrides=overrides)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
