"""Helpers for running the real startup workflow on the local engine against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from novita_local.engine import LocalEngine
from novita_local.operations import Operation, local_engine
from novita_local.simulator import Simulator
from tests.support.simulator import TEST_API_KEY

#: Simulated seconds per real second for the simulator, the engine's waits and the functions' clock.
TIME_SCALE = 100.0

#: Strings that must never leave Novita or the caller's shell: the registry password, the seeded
#: SSH / web-terminal passwords and the API key.
SECRETS = ("fake-registry-pass-7Qx9", "ssh-pass-", "term-pass-", TEST_API_KEY)

TERMINAL = ("instance.startup.completed", "instance.startup.failed")


def workflow_environment(simulator: Simulator, **extra: str) -> dict[str, str]:
    return {
        "NOVITA_BASE_URL": simulator.base_url,
        "NOVITA_API_KEY": TEST_API_KEY,
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",
        # A simulated day: on a loaded machine real overhead times TIME_SCALE must not reach a deadline
        # that a case did not set on purpose (those set the request's timeoutSeconds).
        "STARTUP_TIMEOUT_SECONDS": "86400",
        # The same for one Novita call's budget: 30 simulated seconds are 0.3 real ones at 100x, which a
        # loaded machine's own delays could spend (a call cut short for no reason of Novita's).
        "NOVITA_RETRY_BUDGET_SECONDS": "300",
        **extra,
    }


def workflow_engine(simulator: Simulator, time_scale: float = TIME_SCALE, **extra: str) -> LocalEngine:
    """The project's template on the engine, wired to the simulator, time-scaled like it."""
    return local_engine(workflow_environment(simulator, **extra), time_scale=time_scale)


def reset_world(engine: LocalEngine, simulator: Simulator, **timings: float) -> None:
    """The simulator's default seed on simulated time (with ``timings`` for its boots), and no breaker
    state, operation, lock or shared status left by an earlier case."""
    simulator.admin.set_config(time_scale=TIME_SCALE, **timings)
    for table in ("ResilienceTable", "OperationsTable", "StatusSnapshotTable"):
        clear_table(engine, table)


def clear_table(engine: LocalEngine, logical_id: str) -> None:
    """Delete every item (e.g. the breaker state left by an outage test)."""
    client = engine.boto_client("dynamodb")
    table = engine.resource_name(logical_id)
    keys = [a["AttributeName"] for a in client.describe_table(TableName=table)["Table"]["KeySchema"]]
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            client.delete_item(TableName=table, Key={k: item[k] for k in keys})


def assert_one_terminal(types: list[str], terminal: str) -> None:
    """Exactly one terminal notification, the expected one, and it comes last."""
    assert [t for t in types if t in TERMINAL] == [terminal], types
    assert types[-1] == terminal, types


def assert_each_change_notified_once(operation: Operation) -> None:
    """Progress only when the phase changes: no (type, phase) is ever notified twice."""
    changes = [(n.type, n.data.get("phase")) for n in operation.notifications]
    assert len(changes) == len(set(changes)), f"a change was notified twice: {changes}"


def everything_said(engine: LocalEngine, operations: Iterable[Operation], logs: str) -> str:
    """All the text the workflow left behind: history, handler inputs and outputs, messages, items."""
    parts: list[str] = [logs]
    for operation in operations:
        parts.append(json.dumps(engine.execution_history(operation.execution_arn), default=str))
        parts.append(json.dumps(operation.record, default=str))
        parts.append(json.dumps(engine.describe_execution(operation.execution_arn), default=str))
    parts.extend(json.dumps(invocation.event, default=str) for invocation in engine.invocations())
    parts.extend(message.body for message in engine.queue_messages("WebhookQueue"))
    parts.extend(message.body for message in engine.queue_messages("WebhookDeadLetterQueue"))
    return "\n".join(parts)


def create_bodies(simulator: Simulator) -> list[Mapping[str, Any]]:
    return [entry["body"] for entry in simulator.admin.journal(path="/gpu/instance/create", method="POST")]
