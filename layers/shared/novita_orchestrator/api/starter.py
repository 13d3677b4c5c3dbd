"""Start the startup workflow: one execution per operation, named by the operation ID.

The operation's record is written (phase ``resolving``) *before* ``StartExecution``, so the status URL
handed out with the 202 answers from the moment it is handed out; ResolveTarget then finds the record
and keeps its ``createdAt`` (the deadline counts from the accept). One conditional put: a repeat of the
same operation ID finds the record instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.store.operations_store import RUNNING, OperationsStore
from novita_orchestrator.workflow import phases
from novita_orchestrator.workflow.request import OperationRequest, start_input
from novita_orchestrator.workflow.state import AcceptedInstance

#: The outcome of an operation whose execution could not be started.
NOT_STARTED = "WORKFLOW_NOT_STARTED"


@dataclass(frozen=True)
class WorkflowStarter:
    """Record the operation, then ``StartExecution`` of the state machine (STATE_MACHINE_ARN); used by
    the API and the EventBridge trigger."""

    stepfunctions: Any
    state_machine_arn: str
    operations: OperationsStore
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
        execution_input = start_input(request, operation_id)
        if accepted is not None:
            execution_input["accepted"] = accepted.to_state()
        try:
            self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn,
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
