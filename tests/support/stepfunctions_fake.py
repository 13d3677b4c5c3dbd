"""A stand-in for the boto3 Step Functions client where a test only needs StartExecution: what was
started (execution name -> input, and -> state machine), with the client's refusal of a repeated name."""

from __future__ import annotations

import json
import time
from typing import Any


class RecordingStepFunctions:
    class exceptions:  # the boto3 client's shape
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}
        #: Execution name -> the state machine it was started on.
        self.machines: dict[str, str] = {}

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if name in self.started:
            raise self.exceptions.ExecutionAlreadyExists(name)
        self.started[name] = json.loads(input)
        self.machines[name] = stateMachineArn
        return {"executionArn": f"{stateMachineArn}:{name}", "startDate": time.time()}
