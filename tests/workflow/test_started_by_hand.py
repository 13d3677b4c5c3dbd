"""An execution started by hand (the console, the CLI of AWS) may lack ``operationId``: it still ends
with its notification, under the execution's name, to the request's webhook."""

from __future__ import annotations

import pytest

from novita_local.engine import LocalEngine
from novita_local.operations import STATE_MACHINE, Operation, follow, start_request
from novita_local.simulator import Simulator
from tests.support.workflow import TIME_SCALE, clear_table

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(120)]

HOOK = "https://hooks.example.com/by-hand"


def started_by_hand(engine: LocalEngine, name: str) -> Operation:
    request = start_request("dev-box", webhook_url=HOOK)
    # The input a person types: the request alone, no operationId.
    arn = engine.start_execution(STATE_MACHINE, {"request": request.to_state()}, name=name)
    operation = Operation(operation_id=name, request=request, execution_arn=arn)
    follow(engine, [operation], timeout=60)
    return operation


@pytest.fixture(autouse=True)
def fresh_world(engine: LocalEngine, simulator: Simulator) -> None:
    simulator.admin.set_config(time_scale=TIME_SCALE)
    clear_table(engine, "OperationsTable")


def test_an_execution_named_like_an_operation_runs_and_notifies_under_its_name(engine: LocalEngine) -> None:
    operation = started_by_hand(engine, "op-" + "5" * 32)

    assert operation.execution is not None and operation.execution["status"] == "SUCCEEDED"
    assert operation.notification_types()[-1] == "instance.startup.completed"
    assert {n.operation_id for n in operation.notifications} == {operation.operation_id}
    assert {n.webhook_url for n in operation.notifications} == {HOOK}


def test_any_other_name_fails_with_a_notification_naming_the_field(engine: LocalEngine) -> None:
    operation = started_by_hand(engine, "started-by-hand")

    [failed] = operation.notifications
    assert failed.type == "instance.startup.failed"
    assert failed.webhook_url == HOOK
    assert failed.data["error"]["code"] == "INVALID_REQUEST"
    assert "operationId" in failed.data["error"]["message"]
