"""The moto internals the local engine patches or reads, pinned: a moto upgrade that changes one of
them fails here, naming the engine file to update, instead of deep inside a workflow test."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.responses import BaseResponse
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import Message, Queue, SQSBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from novita_local.engine.interpreter_cache import CLIENT_USERS

LAMBDA_PATCH = "local/novita_local/engine/lambda_patch.py"
TIMING = "local/novita_local/engine/timing.py"
ENGINE = "local/novita_local/engine/engine.py"
INTERPRETER_CACHE = "local/novita_local/engine/interpreter_cache.py"
ATOMIC_DYNAMODB = "local/novita_local/engine/atomic_dynamodb.py"

#: (engine file, what it relies on, the callable, its parameters as the engine calls them)
SIGNATURES: list[tuple[str, str, Callable[..., Any], list[str]]] = [
    (
        LAMBDA_PATCH,
        "LambdaBackend.invoke (replaced)",
        LambdaBackend.invoke,
        ["self", "function_name", "qualifier", "body", "headers", "response_headers"],
    ),
    (
        LAMBDA_PATCH,
        "LambdaSimpleBackend.invoke (replaced)",
        LambdaSimpleBackend.invoke,
        ["self", "function_name", "qualifier", "body", "headers", "response_headers"],
    ),
    (
        LAMBDA_PATCH,
        "LambdaBackend.get_function",
        LambdaBackend.get_function,
        ["self", "function_name_or_arn", "qualifier"],
    ),
    (
        TIMING,
        "WaitFunction._wait_interval (replaced)",
        WaitFunction._wait_interval,
        ["self", "env", "wait_seconds"],
    ),
    (TIMING, "Environment.is_running", Environment.is_running, ["self"]),
    (ENGINE, "SQSBackend.get_queue", SQSBackend.get_queue, ["self", "queue_name"]),
    (ENGINE, "Message.__init__", Message.__init__, ["self", "message_id", "body", "system_attributes"]),
    (
        INTERPRETER_CACHE,
        "ExecutionWorker._get_evaluation_entrypoint (replaced)",
        ExecutionWorker._get_evaluation_entrypoint,
        ["self"],
    ),
    (ATOMIC_DYNAMODB, "DynamoHandler.call_action (wrapped)", DynamoHandler.call_action, ["self"]),
    (INTERPRETER_CACHE, "AmazonStateLanguageParser.parse", AmazonStateLanguageParser.parse, ["definition"]),
    (
        INTERPRETER_CACHE,
        "boto_client_for (replaced where imported)",
        boto_client.boto_client_for,
        ["region", "service", "state_credentials"],
    ),
]

#: (engine file, what it relies on, the class or module, the source text that must be there)
SOURCES: list[tuple[str, str, Any, str]] = [
    (
        TIMING,
        "the retrier pauses with time.sleep (its module's time is replaced)",
        retrier_decl,
        "time.sleep(",
    ),
    (
        TIMING,
        "Environment.program_state_event wakes a Wait early",
        Environment.__init__,
        "self.program_state_event",
    ),
    (ENGINE, "Queue._messages holds every message, visible or not", Queue.__init__, "self._messages"),
    (ENGINE, "Message.message_attributes", Message.__init__, "self.message_attributes"),
    (LAMBDA_PATCH, "LambdaFunction.function_arn", LambdaFunction.__init__, "self.function_arn"),
    (LAMBDA_PATCH, "LambdaFunction.function_name", LambdaFunction.__init__, "self.function_name"),
    (
        ATOMIC_DYNAMODB,
        "every request is served through call_action",
        BaseResponse._dispatch,
        "self.call_action()",
    ),
    (
        INTERPRETER_CACHE,
        "each execution parses its definition in _get_evaluation_entrypoint",
        ExecutionWorker._get_evaluation_entrypoint,
        "self._evaluation_details.state_machine_details.definition",
    ),
]


@pytest.mark.parametrize(
    ("patched_by", "what", "function", "parameters"), SIGNATURES, ids=[s[1] for s in SIGNATURES]
)
def test_the_signatures_the_engine_patches_are_unchanged(
    patched_by: str, what: str, function: Callable[..., Any], parameters: list[str]
) -> None:
    found = list(inspect.signature(function).parameters)
    assert found == parameters, f"moto changed {what} to ({', '.join(found)}): update {patched_by}"


@pytest.mark.parametrize(("patched_by", "what", "owner", "text"), SOURCES, ids=[s[1] for s in SOURCES])
def test_the_internals_the_engine_reads_are_still_there(
    patched_by: str, what: str, owner: Any, text: str
) -> None:
    assert text in inspect.getsource(owner), f"moto no longer has what {patched_by} relies on: {what}"


def test_the_retrier_module_still_has_a_time_to_replace() -> None:
    assert inspect.ismodule(getattr(retrier_decl, "time", None)), (
        f"moto's retrier_decl.time moved: update {TIMING}"
    )


@pytest.mark.parametrize("module", CLIENT_USERS)
def test_the_task_modules_still_import_boto_client_for_by_name(module: str) -> None:
    assert importlib.import_module(module).__dict__.get("boto_client_for") is boto_client.boto_client_for, (
        f"moto's {module} no longer imports boto_client_for by name: update {INTERPRETER_CACHE}"
    )
