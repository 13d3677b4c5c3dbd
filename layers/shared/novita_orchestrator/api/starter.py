"""Start an operation's workflow (start/create: the startup workflow; stop/delete: the stop workflow):
one execution per operation, named by the operation ID.

The operation's record is written (phase ``resolving``) *before* ``StartExecution``, so the status URL
handed out with the 202 answers from the moment it is handed out; ResolveTarget then finds the record
and keeps its ``createdAt`` (the deadline counts from the accept). One conditional put: a repeat of the
same operation ID finds the record instead.

A create's environment values are stored first (:mod:`..store.env_values_store`) and only their
names go into the execution's input: the values never reach its history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.store.env_values_store import ENV_VALUES_LIFETIME_SECONDS, EnvValuesStore
from novita_orchestrator.store.operations_store import RUNNING, OperationsStore
from novita_orchestrator.workflow import phases
from novita_orchestrator.workflow.request import OperationRequest, start_input, state_machines_by_kind
from novita_orchestrator.workflow.state import AcceptedInstance, StoredEnvs

#: The outcome of an operation whose execution could not be started.
NOT_STARTED = "WORKFLOW_NOT_STARTED"


@dataclass(frozen=True)
class WorkflowStarter:
    """Record the operation, then ``StartExecution`` of the startup workflow (STATE_MACHINE_ARN) or of
    the stop workflow (STOP_STATE_MACHINE_ARN); used by the API and the EventBridge trigger."""

    stepfunctions: Any
    state_machine_arn: str
    stop_state_machine_arn: str
    operations: OperationsStore
    env_values: EnvValuesStore
    clock: Clock

    def start(
        self,
        request: OperationRequest,
        operation_id: str,
        *,
        accepted: AcceptedInstance | None = None,
        finish_if_not_started: bool = True,
    ) -> bool:
        """Record and start the operation; False when it was recorded and has ended already, or an
        execution of that name already ended (Step Functions answers a repeated name and input with
        the running execution, else refuses). ``accepted``: the instance the API resolved a start to
        (``$.accepted``). When ``StartExecution`` fails the record is finished as failed (the API's
        caller gets an error and never follows it), unless ``finish_if_not_started`` is False: the
        trigger's retry of the same event starts the same operation again."""
        record = self.operations.create(
            operation_id=operation_id,
            kind=request.kind,
            target=request.target,
            phase=phases.RESOLVING,
            now=self.clock.now(),
            webhook_url=request.webhook.url if request.webhook else None,
        )
        if record.status != RUNNING:
            return False
        execution_input = self.execution_input(request, operation_id, accepted=accepted)
        try:
            self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_for(request),
                name=operation_id,
                input=json.dumps(execution_input),
            )
        except self.stepfunctions.exceptions.ExecutionAlreadyExists:
            return False
        except Exception as error:
            if not finish_if_not_started:
                raise
            self.operations.finish(
                operation_id,
                status=phases.FAILED,
                phase=phases.FAILED,
                notification_type=None,
                outcome={
                    "code": NOT_STARTED,
                    "message": f"the workflow could not be started ({type(error).__name__})",
                },
                now=self.clock.now(),
            )
            raise
        return True

    def execution_input(
        self, request: OperationRequest, operation_id: str, *, accepted: AcceptedInstance | None = None
    ) -> dict[str, Any]:
        """The execution's input, a create's environment values stored and left out of it."""
        execution_input = start_input(request, operation_id)
        if accepted is not None:
            execution_input["accepted"] = accepted.to_state()
        values = request.create.envs if request.create is not None else {}
        if values:
            self.env_values.put(
                operation_id, values, expires_at=self.clock.now() + ENV_VALUES_LIFETIME_SECONDS
            )
            del execution_input["request"]["create"]["envs"]
            execution_input["storedEnvs"] = StoredEnvs(names=sorted(values)).to_state()
        return execution_input

    def state_machine_for(self, request: OperationRequest) -> str:
        return state_machines_by_kind(self.state_machine_arn, self.stop_state_machine_arn)[request.kind]
