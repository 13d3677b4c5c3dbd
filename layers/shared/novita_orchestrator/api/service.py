"""What the API does, over its collaborators (Novita client, stores, Step Functions, SQS, clock).

Start and create are validated with the workflow's own request model and URL guard, pre-checked
against the per-instance lock (a running operation -> 409 naming it; the workflow still refuses a
start that races past this check), then started as an execution named by the operation ID.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from novita_orchestrator.api import errors
from novita_orchestrator.api.models import (
    DeadLetterView,
    HealthView,
    InstanceView,
    OperationAccepted,
    OperationView,
    PortView,
    StatusErrorView,
    StopAccepted,
)
from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.guard import CallGuard
from novita_orchestrator.novita.models import Instance
from novita_orchestrator.observability import logger
from novita_orchestrator.resilience.factory import resilience_snapshot
from novita_orchestrator.settings import ConfigurationError
from novita_orchestrator.store.lock_store import LockStore
from novita_orchestrator.store.operations_store import RUNNING, OperationRecord, OperationsStore
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from novita_orchestrator.workflow.phases import status_error_record
from novita_orchestrator.workflow.request import (
    OperationRequest,
    check_webhook_target,
    new_operation_id,
    start_input,
)
from novita_orchestrator.workflow.resolve_target import find_instance
from novita_orchestrator.workflow.status_reader import StatusReader

#: Accept with an Idempotency-Key: ``(call) -> accepted`` where ``call`` holds the key and request.
IdempotentAccept = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class CallerKey:
    """An ``Idempotency-Key`` scoped to the caller that sent it (two callers never share answers)."""

    principal: str
    key: str


class ApiService:
    def __init__(
        self,
        *,
        novita: Callable[[], NovitaClient],
        reader: Callable[[], StatusReader],
        operations: OperationsStore,
        locks: LockStore,
        stepfunctions: Any,
        state_machine_arn: str | None,
        sqs: Any,
        dead_letter_queue_url: str | None,
        guard: Callable[[], CallGuard],
        url_policy: UrlPolicy,
        clock: Clock,
        idempotent: Callable[[IdempotentAccept], IdempotentAccept] | None = None,
    ) -> None:
        self._novita = novita
        self._reader = reader
        self._operations = operations
        self._locks = locks
        self._stepfunctions = stepfunctions
        self._state_machine_arn = state_machine_arn
        self._sqs = sqs
        self._dlq_url = dead_letter_queue_url
        self._guard = guard
        self._url_policy = url_policy
        self._clock = clock
        self._idempotent_accept = idempotent(self._accept_call) if idempotent is not None else None

    # --- start / create ------------------------------------------------------------------------

    def accept(
        self, request: OperationRequest, *, status_base: str, idempotency: CallerKey | None = None
    ) -> OperationAccepted:
        """Validate, pre-check the lock and start the workflow; a repeated key returns the first answer."""
        check_webhook_target(request, self._url_policy)
        call = {"request": request.to_state(), "statusBase": status_base}
        if idempotency is None:
            return OperationAccepted.model_validate(self._accept_call(call))
        if self._idempotent_accept is None:
            raise errors.BadRequest("Idempotency-Key is not supported by this deployment")
        keyed = {**call, "principal": idempotency.principal, "key": idempotency.key}
        return OperationAccepted.model_validate(self._idempotent_accept(keyed))

    def _accept_call(self, call: dict[str, Any]) -> dict[str, Any]:
        request = OperationRequest.model_validate(call["request"])
        instance_id: str | None = None
        instance: Instance | None = None
        if request.start is not None:
            # From the shared snapshot when it lists the ID (or a fresh one the name): no Novita call.
            instance, fresh = self._reader().identify(request.start.ref, fallback=find_instance)
            instance_id = instance.id
            self._refuse_if_busy(instance.id, f"instance {instance.id}")
        else:
            assert request.create is not None
            self._refuse_if_busy(f"name:{request.create.name}", f"instance name {request.create.name!r}")
        operation_id = new_operation_id()
        if not self._state_machine_arn:
            raise ConfigurationError("STATE_MACHINE_ARN is not set: the startup workflow is required")
        execution_input = start_input(request, operation_id)
        if instance is not None:
            # The workflow drives the instance this answer names (ResolveTarget does not look it up again).
            execution_input["accepted"] = accepted_instance(instance, status_fresh=fresh)
        self._stepfunctions.start_execution(
            stateMachineArn=self._state_machine_arn,
            name=operation_id,
            input=json.dumps(execution_input),
        )
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
            raise errors.InstanceBusy(
                f"{what} is being driven by operation {holder}; try again when it has finished",
                operation_id=holder,
            )

    def _running_holder(self, lock_key: str) -> str | None:
        holder = self._locks.holder(lock_key)
        if holder is None:
            return None
        record = self._operations.get(holder)
        # A lock whose operation has ended is about to be released (or will expire): not busy.
        return holder if record is None or record.status == RUNNING else None

    # --- reads and stop ------------------------------------------------------------------------

    def operation(self, operation_id: str) -> OperationView:
        record = self._operations.get(operation_id)
        if record is None:
            raise errors.OperationNotFound(f"no operation {operation_id}")
        return operation_view(record, now=self._clock.now())

    def instance(self, ref: str) -> InstanceView:
        instance = self._find_instance(ref)
        return instance_view(instance, running_operation=self._running_holder(instance.id))

    def stop(self, ref: str) -> StopAccepted:
        instance = self._find_instance(ref)
        # Stopping an instance a start is driving would only make that start fail.
        self._refuse_if_busy(instance.id, f"instance {instance.id}")
        self._novita().stop_instance(instance.id)
        logger.info("instance stop requested", extra={"instance_id": instance.id})
        return StopAccepted(instanceId=instance.id)

    def health(self) -> HealthView:
        snapshot = resilience_snapshot(self._guard()).model_dump(mode="json")
        depth = self._dead_letter_depth()
        breaker = snapshot.get("breaker") or {}
        degraded = breaker.get("state", "closed").lower() != "closed" or bool(depth)
        return HealthView(
            status="degraded" if degraded else "ok",
            resilience=snapshot,
            webhookDeadLetterQueue=DeadLetterView(configured=self._dlq_url is not None, depth=depth),
        )

    def _dead_letter_depth(self) -> int | None:
        if not self._dlq_url:
            return None
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def _find_instance(self, ref: str) -> Instance:
        """By ID first, else by exact name across every page (as the workflow resolves it)."""
        return find_instance(self._novita(), ref)


def accepted_instance(instance: Instance, *, status_fresh: bool) -> dict[str, Any]:
    """The instance an accepted start resolved to, as the execution input carries it (no secrets):
    ``statusFresh`` says whether its status (and ``statusError``, redacted) was read within the bound."""
    return {
        "instanceId": instance.id,
        "instanceName": instance.name,
        "productId": instance.product_id,
        "status": instance.status,
        "statusError": status_error_record(instance.status_error),
        "statusFresh": status_fresh,
    }


def operation_view(record: OperationRecord, *, now: float) -> OperationView:
    data = record.to_json()
    return OperationView.model_validate(
        {**data, "phaseDurationsSeconds": phase_durations(record.phases, record.status, now=now)}
    )


def phase_durations(phases: dict[str, str], status: str, *, now: float) -> dict[str, float]:
    """Seconds spent in each phase: until the next one began, or until now for a running operation."""
    entered = [(name, _epoch(stamp)) for name, stamp in phases.items()]
    durations: dict[str, float] = {}
    for index, (name, started) in enumerate(entered):
        if index + 1 < len(entered):
            durations[name] = round(max(0.0, entered[index + 1][1] - started), 3)
        elif status == RUNNING:
            durations[name] = round(max(0.0, now - started), 3)
    return durations


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def instance_view(instance: Instance, *, running_operation: str | None) -> InstanceView:
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
    )
