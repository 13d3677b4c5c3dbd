"""Wire models of the REST API (request bodies and responses). Field names are the JSON names."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from novita_orchestrator.workflow.request import AutoStopSpec, CreateSpec, HealthCheckSpec, WebhookSpec


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, defer_build=True)


class StartInstanceBody(_Body):
    """Options of a start (the body may be empty)."""

    webhook: WebhookSpec | None = None
    healthCheck: HealthCheckSpec | None = None
    timeoutSeconds: float | None = Field(default=None, ge=10, le=86_400)
    autoStop: AutoStopSpec | None = None


class StopInstanceBody(_Body):
    """Options of a stop or a delete (the body may be empty): no health check, nothing to probe."""

    webhook: WebhookSpec | None = None
    timeoutSeconds: float | None = Field(default=None, ge=10, le=86_400)


class CreateInstanceBody(CreateSpec):
    """A new instance from a Novita template, with the same options as a start."""

    webhook: WebhookSpec | None = None
    healthCheck: HealthCheckSpec | None = None
    timeoutSeconds: float | None = Field(default=None, ge=10, le=86_400)
    autoStop: AutoStopSpec | None = None

    def create_part(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, include=set(CreateSpec.model_fields))

    def options(self) -> dict[str, Any]:
        return self.model_dump(
            mode="json", exclude_none=True, include={"webhook", "healthCheck", "timeoutSeconds", "autoStop"}
        )


class OperationAccepted(BaseModel):
    """A start, create, stop or delete was accepted: follow it at ``statusUrl`` (and by webhook/events)."""

    model_config = ConfigDict(defer_build=True)

    operationId: str
    statusUrl: str
    kind: Literal["start", "create", "stop", "delete"]
    target: str
    instanceId: str | None = None
    status: Literal["running"] = "running"


class OperationError(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str


class OfferView(BaseModel):
    """A place a create by GPU type tried: a product in a cluster, at a price (USD per hour)."""

    model_config = ConfigDict(defer_build=True)

    productId: str
    productName: str = ""
    clusterId: str | None = None
    gpuNum: int = 1
    billing: str | None = None
    pricePerHour: float | None = None


class OfferTriedView(OfferView):
    #: ``created``, or ``sold out (INSUFFICIENT_RESOURCE): <Novita's message>``.
    outcome: str


class OperationView(BaseModel):
    """One operation: phase, phase timings (ISO time each phase was entered), outcome, notifications."""

    model_config = ConfigDict(defer_build=True)

    operationId: str
    kind: str
    target: str
    status: str
    phase: str
    phases: dict[str, str]
    phaseDurationsSeconds: dict[str, float]
    notifications: list[str]
    #: How it ended: ``READY``, or the failure's code and message; null while it runs.
    outcome: OperationError | None = None
    instanceId: str | None = None
    instanceName: str | None = None
    productId: str | None = None
    #: A create by GPU type: the offer it created on, and each offer tried in order with its outcome.
    offer: OfferView | None = None
    offersTried: list[OfferTriedView] = []
    polls: int = 0
    healthChecks: int = 0
    webhookUrl: str | None = None
    createdAt: str
    updatedAt: str


class PortView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    port: int
    type: str
    endpoint: str | None = None


class StatusErrorView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    state: str | None = None
    message: str | None = None


class InstanceView(BaseModel):
    """An instance without secrets (no SSH / web-terminal passwords, no environment values)."""

    model_config = ConfigDict(defer_build=True)

    instanceId: str
    name: str
    status: str
    statusError: StatusErrorView | None = None
    productId: str | None = None
    productName: str | None = None
    clusterId: str | None = None
    imageUrl: str | None = None
    gpuNum: int | None = None
    ports: list[PortView] = []
    envNames: list[str] = []
    lastStartedAt: str | None = None
    runningOperationId: str | None = None
    autoStop: LeaseView | None = None


class LeaseChangeBody(_Body):
    """Change an auto-stop lease: run out ``afterSeconds`` from now (extend or shorten), a new
    ``idleSeconds``, or ``cancel`` it (the instance is then never stopped by it)."""

    afterSeconds: float | None = Field(default=None, ge=60, le=30 * 86_400)
    idleSeconds: float | None = Field(default=None, ge=60, le=7 * 86_400)
    cancel: bool = False

    @model_validator(mode="after")
    def _some_change(self) -> LeaseChangeBody:
        if not self.cancel and self.afterSeconds is None and self.idleSeconds is None:
            raise ValueError("name afterSeconds, idleSeconds or cancel")
        return self


class LeaseView(BaseModel):
    """An instance's auto-stop lease (``GET /instances/{ref}``, heartbeat and lease answers)."""

    model_config = ConfigDict(defer_build=True)

    state: Literal["active", "cancelled", "superseded", "claimed"]
    #: The start or create that set it.
    operationId: str
    version: int
    expiresAt: str
    warnAt: str
    stopAt: str | None = None
    idleSeconds: float | None = None
    lastHeartbeatAt: str
    #: The stop operation an expired lease started.
    stopOperationId: str | None = None


class CancelView(BaseModel):
    """``POST /operations/{id}/cancel``: whether this call cancelled it (false: it had already ended,
    as ``operation`` shows), and the operation as it is now."""

    model_config = ConfigDict(defer_build=True)

    cancelled: bool
    operation: OperationView


class DeadLetterView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    configured: bool
    depth: int | None = None


class HealthView(BaseModel):
    """``ok``; ``degraded`` when the Novita breaker is not closed or webhooks wait in the DLQ."""

    model_config = ConfigDict(defer_build=True)

    status: Literal["ok", "degraded"]
    resilience: dict[str, Any]
    webhookDeadLetterQueue: DeadLetterView


class ErrorDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str
    #: The request fields at fault (validation errors).
    fields: list[str] | None = None
    #: The operation concerned (a running operation that holds the instance; an idempotent repeat).
    operationId: str | None = None
    retryAfterSeconds: int | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(defer_build=True)

    error: ErrorDetail
