"""The state document the state machine passes to every step, as models (keys are the ASL's contract).

Every step receives the whole document (``$``) and returns its result model, which the state machine
stores at the step's ResultPath (``$.target``, ``$.launch``, ``$.poll``, ...). Fields are snake_case
in Python and camelCase in the document (``model_dump(by_alias=True)``); what the ASL reads from a
result (``$.poll.delaySeconds``) is a field of that result's model (tests/unit/test_state_models.py
holds every path of the ASL against these models).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError, WrapValidator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from novita_orchestrator.novita.models import Instance, PortMapping
from novita_orchestrator.workflow.errors import InvalidRequest
from novita_orchestrator.workflow.phases import status_error_record
from novita_orchestrator.workflow.request import (
    Kind,
    OperationId,
    OperationRequest,
    describe_validation_error,
)

#: A queue message (``{"webhook": ..., "event": ...}``) a step hands the state machine to send.
Notification = dict[str, Any]


class StateModel(BaseModel):
    """A section of the state document: camelCase keys, unknown keys ignored (other steps' sections)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True, defer_build=True
    )

    def to_state(self) -> dict[str, Any]:
        """What lands at the step's ResultPath."""
        return self.model_dump(mode="json", by_alias=True)


def _none_when_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


def _empty_when_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return []


#: A section read if it is usable and ignored otherwise (FinishOperation must end any operation).
Lenient = WrapValidator(_none_when_invalid)
#: A list that is empty when malformed (a probe then asks Novita for the endpoints again).
LenientList = WrapValidator(_empty_when_invalid)


# --- results: what each step adds to the document ----------------------------------------------------


class Offer(StateModel):
    """One place a create may land: a product in a cluster (None: Novita picks), at a price."""

    product_id: str
    product_name: str = ""
    cluster_id: str | None = None
    gpu_num: int = 1
    billing: str | None = None
    #: USD per hour for the whole instance (None: Novita gave no usable price).
    price_per_hour: float | None = None

    def describe(self) -> str:
        """``"RTX 4090 24GB (prod-rtx4090-24g) x1 in cl-eu-de-1 at $0.35/h"``"""
        where = self.cluster_id or "any cluster"
        price = "price unknown" if self.price_per_hour is None else f"${self.price_per_hour:.2f}/h"
        what = f"{self.product_name} ({self.product_id})" if self.product_name else self.product_id
        return f"{what} x{self.gpu_num} in {where} at {price}"


class Target(StateModel):
    """``$.target``: what ResolveTarget found and decided."""

    kind: Kind
    instance_id: str | None
    instance_name: str
    product_id: str | None
    status: str | None
    already_running: bool
    lock_key: str
    #: Epoch seconds after which the operation fails with a timeout.
    deadline: float
    #: Epoch seconds when the operation began (startup durations are measured from here).
    started_at: float
    #: The template's registry-auth ID (create from a private image); never a password.
    template_image_auth_id: str | None = None
    #: The ``statusError`` the instance showed before this operation started it (redacted): seeing
    #: it again during the start is an old failure, not this start's (Novita may not clear it).
    prior_status_error: dict[str, Any] | None = None
    #: A create: the IDs of the instances that had its name before it (listed under the lock), so a
    #: retried LaunchInstance knows the instance its earlier attempt made. None: not listed.
    existing_instance_ids: list[str] | None = None
    #: A create by GPU type: the matching offers, in the order to try them.
    offers: list[Offer] | None = None


class RegistryAuthResult(StateModel):
    """``$.registryAuth``: the verified registry-auth ID (None: the template needs none)."""

    image_auth_id: str | None


class LaunchResult(StateModel):
    """``$.launch``: the instance the operation drives, and the ``initiated`` notification."""

    instance_id: str
    notification: Notification | None
    #: Epoch seconds when Novita took the start or create (the first poll waits POLL_MIN_SECONDS
    #: from here). Absent in a state written before the field existed.
    launched_at: float | None = None
    #: The product the instance runs on when ResolveTarget could not know it (a create by GPU type).
    product_id: str | None = None


class RunningInstance(StateModel):
    """``$.poll.instance``: the running instance as the poll that saw it read it (by GET), so the
    first health check need not read Novita again. Name and port mappings only: no credentials."""

    name: str | None = None
    port_mappings: list[PortMapping] = []

    @classmethod
    def of(cls, instance: Instance) -> RunningInstance:
        return cls(
            name=instance.name,
            port_mappings=[
                PortMapping(port=m.port, type=m.type, endpoint=m.endpoint) for m in instance.port_mappings
            ],
        )


class PollResult(StateModel):
    """``$.poll``: the phase, and when to poll again (``waiting``) or go on to health checks."""

    outcome: Literal["waiting", "running"]
    #: Absent only in the state machine's seed before the first poll.
    phase: str | None = None
    delay_seconds: int
    polls: int
    notification: Notification | None = None
    #: The Novita status this poll saw (the next poll logs an undocumented status only when it changes).
    status: str | None = None
    #: Epoch seconds when Novita last answered this operation itself (a GET, or the launch): shared
    #: snapshot rows are used only while that is recent.
    confirmed_at: float | None = None
    #: Once running and read by GET: what the first health check needs (None when malformed).
    instance: Annotated[RunningInstance | None, Lenient] = None


class HealthResult(StateModel):
    """``$.health``: healthy, or wait and probe again; the endpoints and name the next check reuses."""

    outcome: Literal["waiting", "healthy"]
    delay_seconds: int
    checks: int
    notification: Notification | None = None
    #: The port mappings probed (port, type, endpoint: no credentials live there).
    endpoints: Annotated[list[PortMapping], LenientList] = []
    instance_name: str | None = None


class ActionResult(StateModel):
    """``$.action`` (the stop workflow): the stop or delete sent (or not needed), and its
    ``initiated`` notification."""

    instance_id: str
    #: False when the instance was already exited (stop) or gone (delete): nothing was sent.
    sent: bool
    notification: Notification | None
    acted_at: float


class SettlePollResult(StateModel):
    """``$.poll`` (the stop workflow): ``done`` once the instance is ``exited`` (stop) or gone
    (delete), else wait ``delay_seconds`` and read it again."""

    outcome: Literal["waiting", "done"]
    delay_seconds: int
    polls: int
    status: str | None = None


class FinishResult(StateModel):
    """``$.finish``: the one terminal notification and the EventBridge event detail."""

    notification: Notification
    event: dict[str, Any]
    #: The EventBridge detail-type (InstanceReady, InstanceStopped, ...): the stop workflow's
    #: PublishEvent reads it, since one machine ends stops and deletes.
    detail_type: str = ""


# --- inputs: the document as each step reads it -------------------------------------------------------


class StoredEnvs(StateModel):
    """``$.storedEnvs``: the create's environment variables are stored server-side (their values
    never travel in the execution's input or history); only their names are here."""

    names: list[str]


class AcceptedInstance(StateModel):
    """``$.accepted``: the instance the API resolved a start to and named in its 202 (no secrets).

    ``status_fresh`` says whether its status (and ``statusError``, redacted) was read within the
    shared snapshot's bound; an older one names the instance but not what it showed before the start.
    """

    instance_id: str
    instance_name: str | None = None
    product_id: str | None = None
    status: str = ""
    status_error: dict[str, Any] | None = None
    status_fresh: bool = False

    @classmethod
    def of(cls, instance: Instance, *, status_fresh: bool) -> AcceptedInstance:
        return cls(
            instance_id=instance.id,
            instance_name=instance.name,
            product_id=instance.product_id,
            status=instance.status,
            status_error=status_error_record(instance.status_error),
            status_fresh=status_fresh,
        )

    def instance(self) -> Instance:
        """The instance as the API saw it (identity and status; no port mappings)."""
        return Instance(
            id=self.instance_id,
            name=self.instance_name or "",
            product_id=self.product_id,
            status=self.status,
        )


class ExecutionName(StateModel):
    """``$.execution``: the execution's name (the state machine's first state puts it there)."""

    name: str


def _operation_id_from_execution(data: Any) -> Any:
    """The execution's name when the input has no operationId (an execution started by hand): the
    operation then runs, and notifies, under the name it was started with."""
    if isinstance(data, Mapping) and "operationId" not in data and "operation_id" not in data:
        execution = data.get("execution")
        if isinstance(execution, Mapping) and isinstance(execution.get("name"), str):
            return {**data, "operationId": execution["name"]}
    return data


class OperationState(StateModel):
    """What ResolveTarget reads: the execution's input."""

    operation_id: OperationId
    request: OperationRequest
    #: Set by the API for a start it resolved (ignored when malformed: the step looks the ref up).
    accepted: Annotated[AcceptedInstance | None, Lenient] = None
    #: Set by the API, the trigger and the CLI for a create with ``envs`` (the values are stored).
    stored_envs: StoredEnvs | None = None

    _named_by_execution = model_validator(mode="before")(_operation_id_from_execution)

    @classmethod
    def parse(cls, event: Any) -> Self:
        """The document as this step needs it, or :class:`InvalidRequest` naming each bad field."""
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            # A request problem is named as the caller wrote it ("start.ref"), not "request.start.ref".
            raise InvalidRequest(
                f"invalid request: {describe_validation_error(exc, strip='request')}"
            ) from None

    @property
    def webhook_url(self) -> str | None:
        return self.request.webhook.url if self.request.webhook else None


class StepState(OperationState):
    """What every step after ResolveTarget reads: the input, the target and the results so far."""

    target: Target
    registry_auth: RegistryAuthResult | None = None
    launch: LaunchResult | None = None
    poll: PollResult | None = None
    health: HealthResult | None = None

    @property
    def instance_id(self) -> str:
        """The instance the operation drives: the launch's result, else what ResolveTarget found."""
        if self.launch is not None:
            return self.launch.instance_id
        if self.target.instance_id:
            return self.target.instance_id
        raise InvalidRequest("the state names no instance: ResolveTarget/LaunchInstance did not run")

    @property
    def product_id(self) -> str | None:
        """The instance's product (startup statistics are per product): as resolved, else as launched."""
        return self.target.product_id or (self.launch.product_id if self.launch is not None else None)


class StopState(OperationState):
    """What the stop workflow's steps read (StopInstance, PollStopped): the input, the target, the
    action sent and the last poll."""

    target: Target
    action: ActionResult | None = None
    poll: SettlePollResult | None = None

    @property
    def instance_id(self) -> str:
        if self.target.instance_id:
            return self.target.instance_id
        raise InvalidRequest("the state names no instance: ResolveTarget did not run")


class LeaseRef(StateModel):
    """``$.lease`` (the lease watcher): which lease this watcher enforces."""

    instance_id: str
    version: int
    #: The start or create that set it (names the watcher and the stop it may start).
    operation_id: str


class WatchResult(StateModel):
    """``$.watch`` (the lease watcher): wait ``wait_seconds`` and look again, or ``end``; the
    ``instance.autostop.pending`` warning to send first, if due."""

    action: Literal["wait", "end"]
    wait_seconds: int = 0
    notification: Notification | None = None
    #: Wake-ups of this execution so far; ``generation`` counts the executions before it.
    wakeups: int = 0
    generation: int = 0


class WatchState(StateModel):
    """What WatchLease reads: the lease it enforces and its last result (the seed the first time)."""

    lease: LeaseRef
    watch: WatchResult

    @classmethod
    def parse(cls, event: Any) -> Self:
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            raise InvalidRequest(f"invalid state: {describe_validation_error(exc)}") from None


class CaughtError(BaseModel):
    """``$.error``: what a Catch stored (``{Error, Cause}``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    Error: str = ""
    Cause: str | None = None


class FinishState(StateModel):
    """What FinishOperation reads: whatever the document holds, however far the operation got.

    It runs for ``ready`` and for every failure (``$.outcome`` from MarkReady / MarkFailed), so no
    section is required and an unusable one is ignored: every operation must end with a record.
    """

    operation_id: Annotated[str | None, Lenient] = None
    execution: Annotated[ExecutionName | None, Lenient] = None
    outcome: Annotated[str | None, Lenient] = None
    request: Annotated[dict[str, Any] | None, Lenient] = None
    target: Annotated[Target | None, Lenient] = None
    launch: Annotated[LaunchResult | None, Lenient] = None
    error: Annotated[CaughtError | None, Lenient] = None

    @classmethod
    def parse(cls, event: Any) -> Self:
        if not isinstance(event, Mapping):
            raise InvalidRequest("the event must be the state document (a JSON object)")
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            raise InvalidRequest(f"invalid state: {describe_validation_error(exc)}") from None

    @property
    def operation(self) -> str:
        """The operation ID (a placeholder when the document has none: the record still ends)."""
        return self.operation_id or (self.execution.name if self.execution else None) or "op-unknown"

    @property
    def kind(self) -> str:
        request = self.request or {}
        return next((kind for kind in ("start", "create", "stop", "delete") if kind in request), "")

    @property
    def target_ref(self) -> str:
        """What the caller named: the instance's ref, or the name of the instance to create."""
        request = self.request or {}
        create = request.get("create")
        if isinstance(create, Mapping):
            return str(create.get("name") or "")
        for kind in ("start", "stop", "delete"):
            action = request.get(kind)
            if isinstance(action, Mapping):
                return str(action.get("ref") or "")
        return ""

    @property
    def webhook_url(self) -> str | None:
        webhook = (self.request or {}).get("webhook")
        url = webhook.get("url") if isinstance(webhook, Mapping) else None
        return url if isinstance(url, str) and url else None

    @property
    def instance_id(self) -> str | None:
        if self.launch is not None:
            return self.launch.instance_id
        return self.target.instance_id if self.target is not None else None
