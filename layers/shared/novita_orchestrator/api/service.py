"""What the API does, over its collaborators (Novita client, stores, Step Functions, SQS, clock).

Start and create are validated with the workflow's own request model and URL guard, pre-checked
against the per-instance lock (a running operation -> 409 naming it; the workflow still refuses a
start that races past this check), then started as an execution named by the operation ID. With an
``Idempotency-Key``, the accept runs under Powertools' ``idempotent_function``: a repeated (caller,
key) returns the stored first answer, the same key for another request is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from novita_orchestrator.api import errors
from novita_orchestrator.api.models import (
    CancelView,
    DeadLetterView,
    HealthView,
    InstanceView,
    LeaseChangeBody,
    LeaseView,
    OperationAccepted,
    OperationView,
    PortView,
    StatusErrorView,
)
from novita_orchestrator.api.starter import WorkflowStarter
from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.guard import CallGuard
from novita_orchestrator.novita.models import Instance
from novita_orchestrator.observability import logger
from novita_orchestrator.resilience.guard import resilience_snapshot
from novita_orchestrator.settings import ConfigurationError
from novita_orchestrator.steps import leases
from novita_orchestrator.steps.cancel_operation import CancelDeps, cancel_operation
from novita_orchestrator.steps.resolve_target import find_instance
from novita_orchestrator.steps.status_reader import StatusReader
from novita_orchestrator.store.lease_store import Lease, LeaseStore
from novita_orchestrator.store.lock_store import LockStore
from novita_orchestrator.store.operations_store import (
    RUNNING,
    OperationNotFound,
    OperationRecord,
    OperationsStore,
)
from novita_orchestrator.times import epoch_of_iso, iso
from novita_orchestrator.webhooks.dead_letters import DeadLetters
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from novita_orchestrator.workflow.errors import InstanceBusy, LeaseNotFound
from novita_orchestrator.workflow.request import (
    OperationRequest,
    check_webhook_target,
    is_operation_id,
    new_operation_id,
)
from novita_orchestrator.workflow.state import AcceptedInstance

#: The outcome a ready operation shows (failed ones show the failure's code and message).
READY_OUTCOME = {"code": "READY", "message": "the instance is running and its app answers"}

#: The idempotency records' key prefix: stable across code moves (Powertools' default is the module path).
ACCEPT_KEY_PREFIX = "novita-orchestrator.accept"
#: The outcome's message of an operation cancelled through the API (what was left follows it).
CANCEL_REASON = "cancelled through the API"


@dataclass(frozen=True)
class CallerKey:
    """An ``Idempotency-Key`` scoped to the caller that sent it (two callers never share answers)."""

    principal: str
    key: str


@dataclass(frozen=True)
class IdempotencyTable:
    """Where repeated accepts are remembered (IDEMPOTENCY_TABLE_NAME) and how."""

    persistence: BasePersistenceLayer
    config: IdempotencyConfig


def idempotency_config(ttl_seconds: int) -> IdempotencyConfig:
    """Key = (caller, Idempotency-Key); the same key with another request (or status URL base) is refused.

    Failed requests are not stored, so a retry after an error really retries."""
    return IdempotencyConfig(
        event_key_jmespath="[principal, key]",
        payload_validation_jmespath="[request, statusBase]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
    )


@dataclass(frozen=True)
class ApiDeps:
    novita: NovitaClient
    #: A start's instance, from the shared status snapshot where it lists it (no Novita call then).
    reader: StatusReader
    #: The guard in front of ``novita``: GET /health shows its breaker and limiter.
    guard: CallGuard
    operations: OperationsStore
    locks: LockStore
    starter: WorkflowStarter
    url_policy: UrlPolicy
    clock: Clock
    #: API_MAX_BODY_BYTES.
    max_body_bytes: int
    #: WEBHOOK_DLQ_URL (its depth on GET /health); None = not configured.
    dead_letters: DeadLetters | None = None
    #: IDEMPOTENCY_TABLE_NAME; None = an Idempotency-Key is refused.
    idempotency: IdempotencyTable | None = None
    #: Auto-stop leases (heartbeat, change, shown with the instance); None = none are kept.
    leases: LeaseStore | None = None
    #: What a cancel stops and tells (the executions, the webhook queue, the event bus).
    cancel: CancelDeps | None = None


class ApiService:
    def __init__(self, deps: ApiDeps) -> None:
        self.deps = deps
        self._accept_once: Any = None
        if deps.idempotency is not None:
            self._accept_once = idempotent_function(
                data_keyword_argument="call",
                persistence_store=deps.idempotency.persistence,
                config=deps.idempotency.config,
                key_prefix=ACCEPT_KEY_PREFIX,
            )(self._accept)

    # --- start / create ------------------------------------------------------------------------

    def accept(
        self,
        request: OperationRequest,
        *,
        status_base: str,
        idempotency: CallerKey | None = None,
        lambda_context: Any = None,
    ) -> OperationAccepted:
        """Validate, pre-check the lock and start the workflow; a repeated key returns the first answer."""
        check_webhook_target(request, self.deps.url_policy)
        call = {"request": request.to_state(), "statusBase": status_base}
        if idempotency is None:
            return OperationAccepted.model_validate(self._accept(call=call))
        if self._accept_once is None or self.deps.idempotency is None:
            raise errors.BadRequest("Idempotency-Key is not supported by this deployment")
        if lambda_context is not None:
            # An in-progress record then expires with this invocation (a crashed one frees its key).
            self.deps.idempotency.config.register_lambda_context(lambda_context)
        keyed = {**call, "principal": idempotency.principal, "key": idempotency.key}
        return OperationAccepted.model_validate(self._accept_once(call=keyed))

    def _accept(self, call: dict[str, Any]) -> dict[str, Any]:
        request = OperationRequest.model_validate(call["request"])
        instance_id: str | None = None
        # The workflow drives the instance this answer names (ResolveTarget does not look it up again).
        resolved: AcceptedInstance | None = None
        existing = request.start or request.stop or request.delete
        if existing is not None:
            # From the shared snapshot when it lists the ID (or a fresh one the name): no Novita call.
            instance, fresh = self.deps.reader.identify(existing.ref, fallback=find_instance)
            instance_id = instance.id
            if request.delete is not None and request.delete.confirm != instance.name:
                raise errors.InvalidInput(
                    f"invalid request: confirm: must repeat the exact name of instance {instance.id} "
                    "to delete it",
                    fields=["query:confirm"],
                )
            self._refuse_if_busy(instance.id, f"instance {instance.id}")
            resolved = AcceptedInstance.of(instance, status_fresh=fresh)
        else:
            assert request.create is not None
            self._refuse_if_busy(f"name:{request.create.name}", f"instance name {request.create.name!r}")
        operation_id = new_operation_id()
        self.deps.starter.start(request, operation_id, accepted=resolved)
        logger.info("operation accepted", extra={"operation_id": operation_id, "kind": request.kind})
        accepted = OperationAccepted(
            operationId=operation_id,
            statusUrl=f"{call['statusBase']}/operations/{operation_id}",
            kind=request.kind,
            target=request.target,
            instanceId=instance_id,
        )
        return accepted.model_dump(mode="json")

    def _refuse_if_busy(self, lock_key: str, what: str) -> None:
        holder = self._running_holder(lock_key)
        if holder is not None:
            raise InstanceBusy(
                f"{what} is being driven by operation {holder}; try again when it has finished",
                holder=holder,
            )

    def _running_holder(self, lock_key: str) -> str | None:
        holder = self.deps.locks.holder(lock_key)
        if holder is None:
            return None
        record = self.deps.operations.get(holder)
        # A lock whose operation has ended is about to be released (or will expire): not busy.
        return holder if record is None or record.status == RUNNING else None

    # --- reads ------------------------------------------------------------------------------

    def operation(self, operation_id: str) -> OperationView:
        if not is_operation_id(operation_id):
            # Never echoed: the message says what an ID looks like instead.
            raise OperationNotFound("no such operation: operation IDs look like op-<32 lowercase hex digits>")
        record = self.deps.operations.get(operation_id)
        if record is None:
            raise OperationNotFound(f"no operation {operation_id}")
        return operation_view(record, now=self.deps.clock.now())

    def cancel(self, operation_id: str) -> CancelView:
        """Stop driving a running operation (it ends ``failed``, ``CANCELLED``, notified once); the
        instance is left as it is. An ended operation is answered as it is (``cancelled`` false)."""
        if not is_operation_id(operation_id):
            raise OperationNotFound("no such operation: operation IDs look like op-<32 lowercase hex digits>")
        if self.deps.cancel is None:
            raise ConfigurationError("WEBHOOK_QUEUE_URL, EVENT_BUS_NAME: operations cannot be cancelled here")
        try:
            result = cancel_operation(operation_id, self.deps.cancel, reason=CANCEL_REASON)
        except OperationNotFound:
            raise OperationNotFound(f"no operation {operation_id}") from None
        logger.info("operation cancel", extra={"operation_id": operation_id, "cancelled": result.cancelled})
        return CancelView(
            cancelled=result.cancelled, operation=operation_view(result.record, now=self.deps.clock.now())
        )

    def instance(self, ref: str) -> InstanceView:
        instance = self._find_instance(ref)
        lease = self.deps.leases.get(instance.id) if self.deps.leases is not None else None
        return instance_view(
            instance, running_operation=self._running_holder(instance.id), lease=lease_view(lease)
        )

    # --- auto-stop leases ----------------------------------------------------------------------

    def heartbeat(self, ref: str) -> LeaseView:
        """The app is in use: an idle lease runs out ``idleSeconds`` from now (the record only)."""
        now = self.deps.clock.now()
        return self._change_lease(ref, lambda lease: leases.heartbeat(lease, now=now))

    def change_lease(self, ref: str, change: LeaseChangeBody) -> LeaseView:
        now = self.deps.clock.now()
        return self._change_lease(
            ref,
            lambda lease: leases.changed(
                lease,
                now=now,
                after_seconds=change.afterSeconds,
                idle_seconds=change.idleSeconds,
                cancel=change.cancel,
            ),
        )

    def _change_lease(self, ref: str, change: Callable[[Lease], Lease]) -> LeaseView:
        if self.deps.leases is None:
            raise LeaseNotFound("this deployment keeps no auto-stop leases")
        instance = self._find_instance(ref)
        view = lease_view(leases.change_active(self.deps.leases, instance.id, change))
        assert view is not None
        logger.info("auto-stop lease changed", extra={"instance_id": instance.id, "state": view.state})
        return view

    def health(self) -> HealthView:
        snapshot = resilience_snapshot(self.deps.guard).model_dump(mode="json")
        dead_letters = self.deps.dead_letters
        depth = dead_letters.depth() if dead_letters is not None else None
        breaker = snapshot.get("breaker") or {}
        degraded = breaker.get("state", "closed").lower() != "closed" or bool(depth)
        return HealthView(
            status="degraded" if degraded else "ok",
            resilience=snapshot,
            webhookDeadLetterQueue=DeadLetterView(configured=dead_letters is not None, depth=depth),
        )

    def _find_instance(self, ref: str) -> Instance:
        """By ID first, else by exact name across every page (as the workflow resolves it)."""
        return find_instance(self.deps.novita, ref)


def operation_view(record: OperationRecord, *, now: float) -> OperationView:
    data = record.to_json()
    if record.status == "ready" and not record.outcome:
        data["outcome"] = READY_OUTCOME
    return OperationView.model_validate(
        {**data, "phaseDurationsSeconds": phase_durations(record.phases, record.status, now=now)}
    )


def phase_durations(phases: dict[str, str], status: str, *, now: float) -> dict[str, float]:
    """Seconds spent in each phase: until the next one began, or until now for a running operation."""
    entered = [(name, epoch_of_iso(stamp) or 0.0) for name, stamp in phases.items()]
    durations: dict[str, float] = {}
    for index, (name, started) in enumerate(entered):
        if index + 1 < len(entered):
            durations[name] = round(max(0.0, entered[index + 1][1] - started), 3)
        elif status == RUNNING:
            durations[name] = round(max(0.0, now - started), 3)
    return durations


def lease_view(lease: Lease | None) -> LeaseView | None:
    if lease is None:
        return None
    return LeaseView(
        state=lease.state,
        operationId=lease.operation_id,
        version=lease.version,
        expiresAt=iso(lease.expires_at),
        warnAt=iso(lease.warn_at),
        stopAt=iso(lease.stop_at) if lease.stop_at is not None else None,
        idleSeconds=lease.idle_seconds,
        lastHeartbeatAt=iso(lease.last_heartbeat_at),
        stopOperationId=lease.stop_operation_id,
    )


def instance_view(
    instance: Instance, *, running_operation: str | None, lease: LeaseView | None = None
) -> InstanceView:
    status_error = None
    if instance.status_error is not None:
        status_error = StatusErrorView(
            state=instance.status_error.state, message=instance.status_error.message
        )
    return InstanceView(
        instanceId=instance.id,
        name=instance.name,
        status=instance.status,
        statusError=status_error,
        productId=instance.product_id,
        productName=instance.product_name,
        clusterId=instance.cluster_id,
        imageUrl=instance.image_url,
        gpuNum=instance.gpu_num,
        ports=[PortView(port=p.port, type=p.type, endpoint=p.endpoint) for p in instance.port_mappings],
        envNames=sorted(env.key for env in instance.envs if env.key),
        lastStartedAt=instance.last_started_at,
        runningOperationId=running_operation,
        autoStop=lease,
    )
