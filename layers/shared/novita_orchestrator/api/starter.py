"""Start an operation's workflow (start/create: the startup workflow; stop/delete: the stop workflow):
one execution per operation, named by the operation ID."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from novita_orchestrator.workflow.request import STOP_KINDS, OperationRequest, start_input
from novita_orchestrator.workflow.state import AcceptedInstance


@dataclass(frozen=True)
class WorkflowStarter:
    """``StartExecution`` of the startup workflow (STATE_MACHINE_ARN) or of the stop workflow
    (STOP_STATE_MACHINE_ARN); used by the API and the trigger."""

    stepfunctions: Any
    state_machine_arn: str
    stop_state_machine_arn: str

    def start(
        self, request: OperationRequest, operation_id: str, *, accepted: AcceptedInstance | None = None
    ) -> bool:
        """Start the operation's execution; False when an execution of that name already ended
        (Step Functions answers a repeated name and input with the running execution, else refuses).
        ``accepted``: the instance the API resolved a start to (``$.accepted``)."""
        execution_input = start_input(request, operation_id)
        if accepted is not None:
            execution_input["accepted"] = accepted.to_state()
        try:
            self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_for(request),
                name=operation_id,
                input=json.dumps(execution_input),
            )
        except self.stepfunctions.exceptions.ExecutionAlreadyExists:
            return False
        return True

    def state_machine_for(self, request: OperationRequest) -> str:
        return self.stop_state_machine_arn if request.kind in STOP_KINDS else self.state_machine_arn
