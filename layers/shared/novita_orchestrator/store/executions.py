"""The workflows' executions in Step Functions (each one is named by its operation ID): a start's or
a create's on the startup workflow, a stop's or a delete's on the stop workflow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

# StopExecution's cause is at most 32768 characters; ours are one sentence.
_MAX_CAUSE = 1000


def execution_arn(state_machine_arn: str, operation_id: str) -> str:
    """arn:aws:states:R:A:stateMachine:NAME -> arn:aws:states:R:A:execution:NAME:<operation ID>."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{operation_id}"


class StepFunctionsExecutions:
    def __init__(self, client: Any, state_machines: Mapping[str, str]) -> None:
        """``state_machines``: the state machine ARN of each kind of operation."""
        self._client = client
        self._state_machines = dict(state_machines)

    def stop(self, operation_id: str, *, kind: str, cause: str) -> None:
        """Stop the execution of an operation of ``kind``; one that has already ended (or never
        existed) is left as it is."""
        machine = self._state_machines[kind]
        try:
            self._client.stop_execution(
                executionArn=execution_arn(machine, operation_id),
                error="Cancelled",
                cause=cause[:_MAX_CAUSE],
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {
                "ExecutionDoesNotExist",
                "ValidationException",
            }:
                raise
