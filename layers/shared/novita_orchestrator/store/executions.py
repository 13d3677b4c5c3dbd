"""The startup workflow's executions in Step Functions (each one is named by its operation ID)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

# StopExecution's cause is at most 32768 characters; ours are one sentence.
_MAX_CAUSE = 1000


def execution_arn(state_machine_arn: str, operation_id: str) -> str:
    """arn:aws:states:R:A:stateMachine:NAME -> arn:aws:states:R:A:execution:NAME:<operation ID>."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{operation_id}"


class StepFunctionsExecutions:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._state_machine_arn = state_machine_arn

    def stop(self, operation_id: str, *, cause: str) -> None:
        """Stop the execution; one that has already ended (or never existed) is left as it is."""
        try:
            self._client.stop_execution(
                executionArn=execution_arn(self._state_machine_arn, operation_id),
                error="Cancelled",
                cause=cause[:_MAX_CAUSE],
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {
                "ExecutionDoesNotExist",
                "ValidationException",
            }:
                raise
