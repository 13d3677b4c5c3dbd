"""What a caller asks the startup workflow to do, validated once (the CLI, the API and the first Lambda
all use :class:`OperationRequest`, so bad input is refused with the same message everywhere).

Field names are the wire names (camelCase). A validation error names the field (``create.gpuNum``) and
never echoes the value, which may be a secret (environment values).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from novita_orchestrator.outbound import Resolver, system_resolver
from novita_orchestrator.webhooks.url_guard import (
    UnresolvableWebhookHost,
    UnsafeWebhookUrl,
    UrlPolicy,
    check_webhook_url,
)
from novita_orchestrator.workflow.errors import InvalidRequest

#: What an operation does: the startup workflow runs start and create, the stop workflow the others.
Kind = Literal["start", "create", "stop", "delete"]
STOP_KINDS = frozenset({"stop", "delete"})


def state_machines_by_kind(startup: str, stop: str) -> dict[str, str]:
    """Which workflow runs an operation of each kind (``startup`` and ``stop`` name the two state
    machines, by ARN or by logical ID): starts and creates the startup one, stops and deletes the stop one."""
    kinds: tuple[Kind, ...] = ("start", "create", "stop", "delete")
    return {kind: stop if kind in STOP_KINDS else startup for kind in kinds}


_PORTS = re.compile(r"^\d{1,5}/(http|tcp)(,\d{1,5}/(http|tcp))*$")
#: ``op-`` and 32 lowercase hex digits: the execution's name, so it is safe in any URL or log line.
OPERATION_ID_PATTERN = r"^op-[0-9a-f]{32}$"
_OPERATION_ID = re.compile(OPERATION_ID_PATTERN)


def is_operation_id(value: str) -> bool:
    """Whether ``value`` has the shape of an operation ID (``op-`` and 32 lowercase hex digits)."""
    return _OPERATION_ID.match(value) is not None


def _well_formed_operation_id(value: str) -> str:
    if not is_operation_id(value):
        raise ValueError('must be "op-" and 32 lowercase hex digits')
    return value


OperationId = Annotated[str, AfterValidator(_well_formed_operation_id)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, defer_build=True)


class StartSpec(_Strict):
    #: Novita instance ID or exact instance name.
    ref: str = Field(min_length=1, max_length=255)


class GpuSpec(_Strict):
    """Create on the cheapest matching offer that has capacity (instead of naming a ``productId``)."""

    #: Matched against Novita's product names as whole words, case-insensitively ("RTX 4090").
    type: str = Field(min_length=1, max_length=100)
    count: int = Field(default=1, ge=1, le=8)
    #: Novita cluster IDs, in the order to try them at equal price; empty = any cluster.
    regions: list[str] = Field(default_factory=list, max_length=20)
    #: The most the whole instance may cost per hour, in USD (count x the per-GPU price).
    maxPricePerHour: float | None = Field(default=None, gt=0, le=10_000)
    billing: Literal["onDemand", "spot"] = "onDemand"

    @field_validator("regions")
    @classmethod
    def _region_ids(cls, value: list[str]) -> list[str]:
        cleaned = [region.strip() for region in value]
        if any(not region or len(region) > 255 for region in cleaned):
            raise ValueError("each region must be a Novita cluster ID of 1-255 characters")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("regions must not repeat")
        return cleaned


class StopSpec(_Strict):
    #: Novita instance ID or exact instance name.
    ref: str = Field(min_length=1, max_length=255)
    #: Set by the lease watcher: the version of the auto-stop lease this stop enforces (it stops
    #: nothing if a newer operation has superseded that lease meanwhile).
    leaseVersion: int | None = Field(default=None, ge=1)


class AutoStopSpec(_Strict):
    """Stop the instance once ready and ``afterSeconds`` have passed, and/or ``idleSeconds`` after
    the last heartbeat (``POST /instances/{ref}/heartbeat``); the first to run out stops it."""

    afterSeconds: float | None = Field(default=None, ge=60, le=30 * 86_400)
    idleSeconds: float | None = Field(default=None, ge=60, le=7 * 86_400)

    @model_validator(mode="after")
    def _some_limit(self) -> AutoStopSpec:
        if self.afterSeconds is None and self.idleSeconds is None:
            raise ValueError("name afterSeconds, idleSeconds or both")
        return self


class DeleteSpec(_Strict):
    #: Novita instance ID or exact instance name.
    ref: str = Field(min_length=1, max_length=255)
    #: The instance's exact name, repeated: a delete names what it destroys twice.
    confirm: str = Field(min_length=1, max_length=255)


class CreateSpec(_Strict):
    templateId: str = Field(min_length=1, max_length=255)
    #: Pick the product by GPU type (instead of ``productId``). Declared first: ``productId``'s check
    #: reads it.
    gpu: GpuSpec | None = None
    #: The Novita product to create on; or ``gpu`` to pick one by GPU type.
    productId: str | None = Field(default=None, min_length=1, max_length=255, validate_default=True)
    name: str = Field(min_length=1, max_length=255)
    #: GPUs of ``productId`` (default 1); with ``gpu``, ``gpu.count`` says it.
    gpuNum: int | None = Field(default=None, ge=1, le=8)
    rootfsSize: int | None = Field(default=None, ge=10, le=6144)
    #: ``"8000/http,22/tcp"``; unset = the template's ports.
    ports: str | None = Field(default=None, max_length=1000)
    envs: dict[str, str] = Field(default_factory=dict, max_length=100)
    clusterId: str | None = Field(default=None, max_length=255)

    @field_validator("ports")
    @classmethod
    def _ports_spec(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _PORTS.match(value):
            raise ValueError('must look like "8000/http,22/tcp"')
        if any(not 1 <= int(p.split("/")[0]) <= 65535 for p in value.split(",")):
            raise ValueError("ports must be between 1 and 65535")
        return value

    @field_validator("envs")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or len(key) > 511:
                raise ValueError("environment variable names must be 1-511 characters")
        return value

    @field_validator("productId")
    @classmethod
    def _product_or_gpu(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A gpu that failed its own checks is absent here and already reported.
        if "gpu" in info.data and (value is None) == (info.data["gpu"] is None):
            raise ValueError("name exactly one of productId or gpu")
        return value

    @model_validator(mode="after")
    def _offer_decides(self) -> CreateSpec:
        if self.gpu is not None:
            # The offer decides these: gpu.count and gpu.regions say what the caller wants.
            clashes = [f for f in ("gpuNum", "clusterId") if getattr(self, f) is not None]
            if clashes:
                raise ValueError(
                    f"{' and '.join(clashes)} cannot be combined with gpu (use gpu.count, gpu.regions)"
                )
        return self


class WebhookSpec(_Strict):
    url: str = Field(min_length=8, max_length=2048)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#@]+(/[^\s]*)?$", value):
            raise ValueError("must be an http(s) URL without credentials")
        return value


class HealthCheckSpec(_Strict):
    #: Container port to probe; unset = every HTTP port mapping.
    port: int | None = Field(default=None, ge=1, le=65535)
    path: str = Field(default="/", max_length=1024)
    timeoutSeconds: float | None = Field(default=None, gt=0, le=60)

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError('must start with "/" and contain no spaces')
        return value


class OperationRequest(_Strict):
    start: StartSpec | None = None
    create: CreateSpec | None = None
    stop: StopSpec | None = None
    delete: DeleteSpec | None = None
    webhook: WebhookSpec | None = None
    healthCheck: HealthCheckSpec | None = None
    timeoutSeconds: float | None = Field(default=None, ge=10, le=86_400)
    autoStop: AutoStopSpec | None = None

    @model_validator(mode="after")
    def _exactly_one_action(self) -> OperationRequest:
        actions = [self.start, self.create, self.stop, self.delete]
        if sum(action is not None for action in actions) != 1:
            raise ValueError("name exactly one of start, create, stop or delete")
        if self.healthCheck is not None and self.kind in STOP_KINDS:
            raise ValueError(f"healthCheck: a {self.kind} has no app to check")
        if self.autoStop is not None and self.kind in STOP_KINDS:
            raise ValueError(f"autoStop: a {self.kind} sets no lease")
        return self

    @property
    def kind(self) -> Kind:
        if self.start is not None:
            return "start"
        if self.create is not None:
            return "create"
        return "stop" if self.stop is not None else "delete"

    @property
    def target(self) -> str:
        """What the caller named: the ref of the instance, or the name of the instance to create."""
        if self.create is not None:
            return self.create.name
        action = self.start or self.stop or self.delete
        assert action is not None
        return action.ref

    def to_state(self) -> dict[str, Any]:
        """The JSON the state machine carries as ``$.request`` (unset fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


def new_operation_id() -> str:
    return f"op-{uuid.uuid4().hex}"


def describe_validation_error(exc: ValidationError, prefix: str = "", strip: str | None = None) -> str:
    """``"create.gpuNum: Input should be less than or equal to 8"`` for each problem; values not shown.

    ``strip`` drops a leading location part (a request nested in a document is named as written)."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = list(err["loc"])
        if strip is not None and loc[:1] == [strip] and len(loc) > 1:
            loc = loc[1:]
        where = ".".join(str(p) for p in loc) or "request"
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{prefix}{where}: {message}")
    return "; ".join(problems)


def parse_request(data: Any) -> OperationRequest:
    """A validated request, or :class:`InvalidRequest` naming every bad field."""
    try:
        return OperationRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid request: {describe_validation_error(exc)}") from None


def start_input(request: OperationRequest, operation_id: str | None = None) -> dict[str, Any]:
    """The execution input for a validated request (the execution name is ``operationId``)."""
    return {"operationId": operation_id or new_operation_id(), "request": request.to_state()}


def check_webhook_target(
    request: OperationRequest, policy: UrlPolicy, resolver: Resolver = system_resolver
) -> None:
    """Refuse a webhook URL the dispatcher would never call (checked again at each delivery).

    A host that does not resolve right now is let through: it may be a passing DNS failure, and
    delivery checks it again.
    """
    if request.webhook is None:
        return
    try:
        check_webhook_url(request.webhook.url, policy, resolver)
    except UnsafeWebhookUrl as error:
        raise InvalidRequest(f"invalid request: webhook.url: {error}") from None
    except UnresolvableWebhookHost:
        return
