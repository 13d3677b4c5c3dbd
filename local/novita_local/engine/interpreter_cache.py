"""What moto's interpreter rebuilds for every execution or state, built once for the engine's life.

* **The parsed definition.** Every execution start parsed the definition again (an ANTLR grammar,
  then a preprocessor): about a tenth of a second of CPU each. The parsed program keeps no
  execution's state (each evaluation keeps its own in its ``Environment``: heap, stack, context), so
  one parse serves every execution of the same definition.
* **The boto3 clients of Task states.** Every Lambda, SQS or EventBridge task made a new boto3 client
  (tens of milliseconds: the service model, the event hooks). boto3 clients are thread-safe, so one
  per (region, service) serves every task.

Under load (hundreds of executions on a two-core machine) the two were about a third of the engine's
time, none of it anything AWS does.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

#: The interpreter modules that imported ``boto_client_for`` by name (the tasks this project uses).
CLIENT_USERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
)


@contextmanager
def cached_interpreter() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(_parsed_once())
        stack.enter_context(_clients_made_once())
        yield


@contextmanager
def _parsed_once() -> Iterator[None]:
    programs: dict[str, Any] = {}
    lock = threading.Lock()

    def entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            program = programs.get(definition)
        if program is None:
            program = AmazonStateLanguageParser.parse(definition)[0]
            with lock:
                program = programs.setdefault(definition, program)
        return program

    with _replaced(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint):
        yield


@contextmanager
def _clients_made_once() -> Iterator[None]:
    make = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own boto_client_for ignores the state's credentials too (fixed mock keys).
        with lock:
            client = clients.get((region, service))
            if client is None:
                client = clients[(region, service)] = make(region, service)
        return client

    with ExitStack() as stack:
        for name in CLIENT_USERS:
            stack.enter_context(_replaced(importlib.import_module(name), "boto_client_for", client_for))
        yield


@contextmanager
def _replaced(owner: Any, attribute: str, replacement: Callable[..., Any]) -> Iterator[None]:
    """A monkey patch of a moto internal (typed as Any), undone on exit."""
    original = owner.__dict__[attribute]
    setattr(owner, attribute, replacement)
    try:
        yield
    finally:
        setattr(owner, attribute, original)
