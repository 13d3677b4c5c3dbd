"""The real stop workflow (statemachine/stop_instance.asl.json: ResolveTarget, StopInstance,
PollStopped, FinishOperation, wired from template.yaml) on the local engine, against the Novita
simulator, on simulated time: stop and delete as operations, what a caller sees of them.
"""

from __future__ import annotations

import json

import pytest

from novita_local.engine import LocalEngine
from novita_local.operations import (
    Operation,
    delete_request,
    follow,
    run_operation,
    start_operation,
    start_request,
    stop_request,
)
from novita_local.simulator import Simulator
from novita_orchestrator.workflow.notifications import (
    DELETE_COMPLETED,
    DELETE_FAILED,
    DELETE_INITIATED,
    STOP_COMPLETED,
    STOP_FAILED,
    STOP_INITIATED,
)
from novita_orchestrator.workflow.request import OperationRequest
from tests.support.workflow import TIME_SCALE, assert_each_change_notified_once, reset_world

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(120)]

OPERATION_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def fresh_world(engine: LocalEngine, simulator: Simulator) -> None:
    reset_world(engine, simulator)


def run(engine: LocalEngine, request: OperationRequest) -> Operation:
    return run_operation(engine, request, timeout=OPERATION_TIMEOUT)


def posts(simulator: Simulator, action: str) -> list[dict[str, object]]:
    return simulator.admin.journal(path=f"/gpu/instance/{action}", method="POST")


def status_of(simulator: Simulator, instance_id: str) -> str | None:
    for instance in simulator.admin.state()["instances"]:
        if instance["id"] == instance_id:
            return str(instance["status"])
    return None


def published(engine: LocalEngine, operation: Operation) -> list[tuple[str, str]]:
    """(detail-type, notification type) of each event the execution put on the bus."""
    found = []
    for event in engine.execution_history(operation.execution_arn):
        scheduled = event.get("taskScheduledEventDetails") or {}
        if scheduled.get("resource") != "putEvents":
            continue
        [entry] = json.loads(scheduled["parameters"])["Entries"]
        detail = entry["Detail"] if isinstance(entry["Detail"], dict) else json.loads(entry["Detail"])
        found.append((entry["DetailType"], detail["type"]))
    return found


def test_a_stop_of_a_running_instance_ends_exited_with_one_stop_post(
    engine: LocalEngine, simulator: Simulator
):
    operation = run(engine, stop_request("inference", webhook_url="https://hooks.example.com/n"))

    summary = operation.summary()
    assert summary["status"] == "stopped", summary
    assert summary["kind"] == "stop"
    assert summary["instanceId"] == "inst-inference"
    assert operation.notification_types() == [STOP_INITIATED, STOP_COMPLETED]
    assert [n.data["phase"] for n in operation.notifications] == ["stopping", "stopped"]
    assert all(n.webhook_url == "https://hooks.example.com/n" for n in operation.notifications)
    assert_each_change_notified_once(operation)
    assert [entry["body"] for entry in posts(simulator, "stop")] == [{"instanceId": "inst-inference"}]
    assert status_of(simulator, "inst-inference") == "exited"
    assert published(engine, operation) == [("InstanceStopped", STOP_COMPLETED)]
    assert engine.describe_execution(operation.execution_arn)["status"] == "SUCCEEDED"


def test_a_stop_of_an_exited_instance_sends_no_post(engine: LocalEngine, simulator: Simulator):
    operation = run(engine, stop_request("dev-box"))

    assert operation.status == "stopped", operation.summary()
    assert operation.notification_types() == [STOP_INITIATED, STOP_COMPLETED]
    assert posts(simulator, "stop") == []


def test_a_stop_of_an_unknown_name_fails_with_one_stop_failed(engine: LocalEngine, simulator: Simulator):
    operation = run(engine, stop_request("no-such-box"))

    summary = operation.summary()
    assert summary["status"] == "failed"
    assert summary["outcome"]["code"] == "INSTANCE_NOT_FOUND"
    assert operation.notification_types() == [STOP_FAILED]
    assert published(engine, operation) == [("InstanceStopFailed", STOP_FAILED)]
    assert posts(simulator, "stop") == []


def test_a_stop_that_outlasts_its_timeout_fails_with_stop_timeout(engine: LocalEngine, simulator: Simulator):
    simulator.admin.set_config(stopping=100_000.0)

    operation = run(engine, stop_request("inference", timeout=60))

    summary = operation.summary()
    assert summary["status"] == "failed", summary
    assert summary["outcome"]["code"] == "STOP_TIMEOUT"
    assert operation.notification_types() == [STOP_INITIATED, STOP_FAILED]
    assert len(posts(simulator, "stop")) == 1


def test_a_stop_and_a_start_of_one_instance_at_once_run_one_and_refuse_the_other(
    engine: LocalEngine, simulator: Simulator
):
    simulator.admin.set_config(stopping=300.0)  # 3 real seconds: the two overlap whoever goes first
    stop = start_operation(engine, stop_request("inference"))
    start = start_operation(engine, start_request("inst-inference"))

    follow(engine, [stop, start], timeout=OPERATION_TIMEOUT)

    ended = {op.request.kind: op for op in (stop, start)}
    refused = [op for op in ended.values() if op.status == "failed"]
    assert len(refused) == 1, [op.summary() for op in (stop, start)]
    [winner] = [op for op in ended.values() if op.status != "failed"]
    outcome = refused[0].summary()["outcome"]
    assert outcome["code"] == "INSTANCE_BUSY"
    assert winner.operation_id in outcome["message"]
    assert refused[0].notification_types()[-1] in {STOP_FAILED, "instance.startup.failed"}
    assert len(refused[0].notification_types()) == 1


# --- delete ----------------------------------------------------------------------------------


def test_a_delete_with_the_right_confirm_waits_until_removed(engine: LocalEngine, simulator: Simulator):
    operation = run(engine, delete_request("trainer", confirm="trainer"))

    summary = operation.summary()
    assert summary["status"] == "deleted", summary
    assert operation.notification_types() == [DELETE_INITIATED, DELETE_COMPLETED]
    assert [n.data["phase"] for n in operation.notifications] == ["deleting", "deleted"]
    assert [entry["body"] for entry in posts(simulator, "delete")] == [{"instanceId": "inst-trainer"}]
    assert status_of(simulator, "inst-trainer") in {None, "removed"}
    assert published(engine, operation) == [("InstanceDeleted", DELETE_COMPLETED)]


def test_a_delete_without_the_right_confirm_fails_and_deletes_nothing(
    engine: LocalEngine, simulator: Simulator
):
    operation = run(engine, delete_request("inst-trainer", confirm="Trainer"))

    summary = operation.summary()
    assert summary["status"] == "failed"
    assert summary["outcome"]["code"] == "INVALID_REQUEST"
    assert "delete.confirm" in summary["outcome"]["message"]
    assert operation.notification_types() == [DELETE_FAILED]
    assert posts(simulator, "delete") == []
    assert status_of(simulator, "inst-trainer") == "exited"


@pytest.mark.every_dialect
def test_stop_and_delete_end_under_each_dialect(
    engine: LocalEngine, simulator: Simulator, dialects: tuple[str, ...]
):
    """Removed rows kept listed (keep-removed), nameless errors, 0-based pages: the same ends."""
    simulator.admin.set_config(time_scale=TIME_SCALE)
    stopped = run(engine, stop_request("inference"))
    deleted = run(engine, delete_request("trainer", confirm="trainer"))

    assert (stopped.status, deleted.status) == ("stopped", "deleted"), [
        stopped.summary(),
        deleted.summary(),
    ]
    assert len(posts(simulator, "stop")) == 1
    assert len(posts(simulator, "delete")) == 1
