"""Start the startup workflow: one execution per operation, named by the operation ID.

A create's environment values are stored first (:mod:`..store.env_values_store`) and only their
names go into the execution's input: the values never reach its history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import SYSTEM_CLOCK, Clock
from novita_orchestrator.store.env_values_store import ENV_VALUES_LIFETIME_SECONDS, EnvValuesStore
from novita_orchestrator.workflow.request import OperationRequest, start_input
from novita_orchestrator.workflow.state import AcceptedInstance, StoredEnvs


@dataclass(frozen=True)
class WorkflowStarter:
    """``StartExecution`` of the state machine (STATE_MACHINE_ARN); used by the API and the trigger."""

    stepfunctions: Any
    state_machine_arn: str
    env_values: EnvValuesStore
    clock: Clock = SYSTEM_CLOCK

    def start(
        self, request: OperationRequest, operation_id: str, *, accepted: AcceptedInstance | None = None
    ) -> bool:
        """Start the operation's execution; False when an execution of that name already ended
        (Step Functions answers a repeated name and input with the running execution, else refuses).
        ``accepted``: the instance the API resolved a start to (``$.accepted``)."""
        execution_input = self.execution_input(request, operation_id, accepted=accepted)
        try:
            self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=operation_id,
                input=json.dumps(execution_input),
            )
        except self.stepfunctions.exceptions.ExecutionAlreadyExists:
            return False
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
