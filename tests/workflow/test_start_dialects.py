"""The startup workflow (real state machine and functions on the local engine) against the simulator
in its default answers, in each dialect alone and in all at once: what a caller sees does not depend
on the answers Novita's docs leave open."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from novita_local.engine import LocalEngine
from novita_local.operations import Operation, follow, run_operation, start_operation, start_request
from novita_local.simulator import Simulator
from novita_orchestrator.workflow.request import OperationRequest
from tests.support.simulator import api_session, session_simulator
from tests.support.workflow import (
    TIME_SCALE,
    assert_each_change_notified_once,
    assert_one_terminal,
    reset_world,
    workflow_engine,
)

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(120), pytest.mark.every_dialect]

COMPLETED = "instance.startup.completed"
FAILED = "instance.startup.failed"
START = "/gpu/instance/start"


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    # Shared status reads at their most eager (a listing as soon as one read is due): every poll reads
    # through list pages, so the snapshot is made in every dialect too.
    with workflow_engine(session_simulator(), STATUS_SNAPSHOT_LIST_THRESHOLD="1") as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_world(engine: LocalEngine, simulator: Simulator) -> None:
    # Short boots (few polls, one health probe): this module runs each case in every dialect.
    reset_world(engine, simulator, toStart=1, starting=5, app_warmup=1)


def run(engine: LocalEngine, request: OperationRequest) -> Operation:
    return run_operation(engine, request, timeout=60)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the operation never got there"
        time.sleep(0.02)


def start_posts(simulator: Simulator) -> int:
    return len(simulator.admin.journal(path=START, method="POST"))


def novita_post(simulator: Simulator, path: str, instance_id: str) -> None:
    with api_session(simulator) as http:
        answer = http.post(simulator.base_url + path, json={"instanceId": instance_id}, timeout=10)
    assert answer.status_code == 200, answer.text


def assert_ready(operation: Operation) -> None:
    summary = operation.summary()
    assert summary["status"] == "ready", summary
    assert_one_terminal(operation.notification_types(), COMPLETED)
    assert_each_change_notified_once(operation)
    assert FAILED not in operation.notification_types()
    # Progress names only the phases of a start (an undocumented status is no phase of its own).
    assert {n.data["phase"] for n in operation.notifications} <= {
        "starting",
        "pulling",
        "running",
        "health_check",
        "ready",
    }


def test_start_by_name_of_an_exited_instance_ends_ready_with_one_start_post(engine, simulator, dialects):
    operation = run(engine, start_request("dev-box"))

    assert_ready(operation)
    assert operation.summary()["instanceId"] == "inst-dev-box"
    assert start_posts(simulator) == 1


def test_start_of_an_instance_already_starting_ends_ready(engine, simulator, dialects):
    simulator.admin.set_config(starting=100_000)  # it stays starting until the operation has sent its start
    novita_post(simulator, START, "inst-dev-box")

    operation = start_operation(engine, start_request("dev-box"))
    wait_until(lambda: start_posts(simulator) == 2)
    simulator.admin.advance(100_000)  # now it boots
    follow(engine, [operation], timeout=60)

    assert_ready(operation)
    refused = simulator.admin.journal(path=START, method="POST")[1]
    assert refused["status"] == 400  # ours was refused (it was on its way), and counted as started


def test_start_of_a_missing_name_fails_not_found_without_a_post(engine, simulator, dialects):
    operation = run(engine, start_request("no-such-box"))

    summary = operation.summary()
    assert summary["status"] == "failed"
    assert summary["outcome"]["code"] == "INSTANCE_NOT_FOUND"
    assert operation.notification_types() == [FAILED]
    assert start_posts(simulator) == 0


def test_a_name_shared_with_deleted_instances_is_not_ambiguous(engine, simulator, dialects):
    simulator.admin.set_config(time_scale=0)
    novita_post(simulator, "/gpu/instance/delete", "inst-trainer")
    simulator.admin.advance(10)  # removed: gone, or (keep-removed) still listed
    simulator.admin.add_instances([{"id": "inst-trainer-b", "name": "trainer"}])
    novita_post(simulator, "/gpu/instance/delete", "inst-trainer-b")  # being removed: listed
    simulator.admin.add_instances([{"id": "inst-trainer-c", "name": "trainer", "ports": "6006/http"}])
    simulator.admin.set_config(time_scale=TIME_SCALE)

    operation = run(engine, start_request("trainer"))

    assert_ready(operation)
    assert operation.summary()["instanceId"] == "inst-trainer-c"


def test_a_deleted_instance_addressed_by_id_fails_as_removed(engine, simulator, dialects):
    simulator.admin.set_config(removing=100_000)  # still being deleted while the operation runs
    novita_post(simulator, "/gpu/instance/delete", "inst-trainer")

    operation = run(engine, start_request("inst-trainer"))

    assert operation.summary()["outcome"]["code"] == "INSTANCE_REMOVED"
    assert operation.notification_types() == [FAILED]
    assert start_posts(simulator) == 0


def test_a_stale_status_error_does_not_fail_a_start(engine, simulator, dialects):
    old = {"state": "failed", "message": "image pull failed last week"}
    simulator.admin.add_instances(
        [{"id": "inst-scarred", "name": "scarred", "ports": "80/http", "statusError": old}]
    )

    operation = run(engine, start_request("scarred"))

    assert_ready(operation)


def polled_statuses(engine: LocalEngine, operation: Operation) -> list[str]:
    """The Novita statuses PollStatus saw, in order (each poll's result is in the next poll's input)."""
    seen: list[str] = []
    for call in engine.invocations("PollStatusFunction"):
        if call.event.get("operationId") == operation.operation_id:
            status = (call.event.get("poll") or {}).get("status")
            if status and (not seen or seen[-1] != status):
                seen.append(status)
    return seen


def test_an_undocumented_status_is_waited_through(engine, simulator, dialects):
    simulator.admin.set_dialects(*dict.fromkeys((*dialects, "pending")))  # this dialect, plus pending
    # Long enough for polls to see it even when the steps before them are slow (a loaded machine).
    simulator.admin.set_config(pending=150)

    operation = run(engine, start_request("dev-box"))

    assert_ready(operation)
    assert polled_statuses(engine, operation)[0] == "pending"
