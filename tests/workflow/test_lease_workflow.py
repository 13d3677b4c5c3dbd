"""Auto-stop leases on the local engine: a ready start with ``autoStop`` sets a lease in DynamoDB and
starts the real lease watcher (statemachine/lease_watcher.asl.json), which warns and then starts
the real stop workflow once; heartbeats, a cancel and a newer start change what it does. Simulated
time (100x): a 300 s lease runs out in about 3 real seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from novita_local.engine import LocalEngine
from novita_local.operations import (
    Notification,
    queued_notifications,
    run_operation,
    start_request,
    stored_operation,
)
from novita_local.simulator import Simulator
from novita_orchestrator.clock import ScaledClock
from novita_orchestrator.steps import leases
from novita_orchestrator.steps.watch_lease import lease_stop_operation_id
from novita_orchestrator.store.lease_store import DynamoLeaseStore
from novita_orchestrator.times import epoch_of_iso
from novita_orchestrator.workflow.request import parse_request
from tests.support.simulator import session_simulator
from tests.support.workflow import TIME_SCALE, reset_world, workflow_engine

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(120)]

WARNING = "instance.autostop.pending"
WARNING_SECONDS = 60
CLOCK = ScaledClock(TIME_SCALE)  # the functions' clock (one anchor per process)


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with workflow_engine(session_simulator(), AUTO_STOP_WARNING_SECONDS=str(WARNING_SECONDS)) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_world(engine: LocalEngine, simulator: Simulator) -> None:
    reset_world(engine, simulator)


@pytest.fixture
def store(engine: LocalEngine) -> DynamoLeaseStore:
    return DynamoLeaseStore(engine.boto_client("dynamodb"), engine.resource_name("OperationsTable"))


def start_with_lease(engine: LocalEngine, ref: str, **auto_stop: float) -> str:
    request = parse_request({"start": {"ref": ref}, "autoStop": auto_stop})
    operation = run_operation(engine, request, timeout=60)
    assert operation.status == "ready", operation.summary()
    return operation.operation_id


def wait_for(condition: Callable[[], Any], *, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.05)
    return value


def notifications_of(engine: LocalEngine, operation_id: str) -> list[Notification]:
    return [n for n in queued_notifications(engine) if n.operation_id == operation_id]


def ended(engine: LocalEngine, operation_id: str) -> dict[str, Any] | None:
    """The operation's record once it ended and its terminal notification is queued."""
    record = stored_operation(engine, operation_id)
    if record is None or record["status"] == "running":
        return None
    return record if any(n.terminal for n in notifications_of(engine, operation_id)) else None


def stop_posts(simulator: Simulator) -> int:
    return len(simulator.admin.journal(path="/gpu/instance/stop", method="POST"))


def watchers(engine: LocalEngine) -> list[dict[str, Any]]:
    client = engine.boto_client("stepfunctions")
    arn = engine.resource_arn("LeaseWatcherStateMachine")
    return list(client.list_executions(stateMachineArn=arn)["executions"])


def test_a_lease_runs_out_warns_first_and_stops_the_instance_once(
    engine: LocalEngine, simulator: Simulator, store: DynamoLeaseStore
):
    started = start_with_lease(engine, "dev-box", afterSeconds=300)
    lease = store.get("inst-dev-box")
    assert lease is not None and (lease.state, lease.operation_id, lease.version) == ("active", started, 1)
    stop_id = lease_stop_operation_id(started)

    stopped = wait_for(lambda: ended(engine, stop_id))

    assert stopped["status"] == "stopped", stopped
    assert stopped["kind"] == "stop" and stopped["instanceId"] == "inst-dev-box"
    [warning] = [n for n in notifications_of(engine, started) if n.type == WARNING]
    stop_types = [n.type for n in notifications_of(engine, stop_id)]
    assert stop_types == ["instance.stop.initiated", "instance.stop.completed"]
    first_stop_note = notifications_of(engine, stop_id)[0]
    assert warning.event["timestamp"] <= first_stop_note.event["timestamp"]  # the warning came first
    assert warning.data["expiresAt"] and warning.data["leaseVersion"] == 1
    assert stop_posts(simulator) == 1
    claimed = store.get("inst-dev-box")
    assert claimed is not None and (claimed.state, claimed.stop_operation_id) == ("claimed", stop_id)
    wait_for(lambda: all(w["status"] == "SUCCEEDED" for w in watchers(engine)))
    time.sleep(0.5)
    assert stop_posts(simulator) == 1  # stopped exactly once


def test_heartbeats_postpone_an_idle_lease_until_they_stop(
    engine: LocalEngine, simulator: Simulator, store: DynamoLeaseStore
):
    started = start_with_lease(engine, "trainer", idleSeconds=300)
    beat_until = time.monotonic() + 5.0  # 500 simulated seconds of use, past the idle time
    while time.monotonic() < beat_until:
        leases.change_active(store, "inst-trainer", lambda lease: leases.heartbeat(lease, now=CLOCK.now()))
        time.sleep(0.5)
    assert stop_posts(simulator) == 0

    stopped = wait_for(lambda: ended(engine, lease_stop_operation_id(started)))

    assert stopped["status"] == "stopped", stopped
    lease = store.get("inst-trainer")
    assert lease is not None and lease.state == "claimed"
    # Stopped only once the idle time had passed after the last heartbeat.
    assert (epoch_of_iso(stopped["createdAt"]) or 0) >= lease.last_heartbeat_at + 300
    assert stop_posts(simulator) == 1


def test_a_cancelled_lease_stops_nothing(engine: LocalEngine, simulator: Simulator, store: DynamoLeaseStore):
    started = start_with_lease(engine, "dev-box", afterSeconds=300)

    leases.change_active(store, "inst-dev-box", leases.cancelled)
    wait_for(lambda: watchers(engine) and all(w["status"] == "SUCCEEDED" for w in watchers(engine)))
    time.sleep(4.0)  # 400 simulated seconds: past the expiry

    assert stop_posts(simulator) == 0
    assert stored_operation(engine, lease_stop_operation_id(started)) is None
    assert WARNING not in [n.type for n in notifications_of(engine, started)]


def test_a_newer_start_is_not_stopped_by_an_older_lease(
    engine: LocalEngine, simulator: Simulator, store: DynamoLeaseStore
):
    older = start_with_lease(engine, "dev-box", afterSeconds=300)
    newer = run_operation(engine, start_request("dev-box"), timeout=60)  # running: health checks only
    assert newer.status == "ready", newer.summary()

    lease = store.get("inst-dev-box")
    assert lease is not None and lease.state == "superseded"
    time.sleep(4.0)  # past the older lease's expiry

    assert stop_posts(simulator) == 0
    assert stored_operation(engine, lease_stop_operation_id(older)) is None
    assert simulator.admin.state()["instances"][0]["status"] == "running"


def test_a_lease_superseded_after_its_claim_stops_nothing_and_frees_the_instance(
    engine: LocalEngine, simulator: Simulator, store: DynamoLeaseStore
):
    # The race the watcher cannot rule out: it claimed the lease and started the stop, and before the
    # stop took the instance's lock a newer operation superseded the lease. The stop is started here
    # exactly as the watcher starts it, with the lease superseded between the claim and the stop.
    owner = start_with_lease(engine, "dev-box", afterSeconds=3000)
    stop_id = lease_stop_operation_id(owner)
    claimed = leases.update(
        store,
        "inst-dev-box",
        lambda lease: (
            replace(lease, revision=lease.revision + 1, state="claimed", stop_operation_id=stop_id)
            if lease is not None
            else None
        ),
    )
    assert claimed is not None and claimed.state == "claimed"
    leases.supersede(store, "inst-dev-box")
    request = parse_request({"stop": {"ref": "inst-dev-box", "leaseVersion": claimed.version}})

    stop = run_operation(engine, request, operation_id=stop_id, timeout=60)

    assert stop.status == "failed", stop.summary()
    assert stop.record is not None and stop.record["outcome"]["code"] == "LEASE_SUPERSEDED"
    terminal = [n for n in notifications_of(engine, stop_id) if n.terminal]
    assert [n.type for n in terminal] == ["instance.stop.failed"]
    assert stop_posts(simulator) == 0
    assert simulator.admin.state()["instances"][0]["status"] == "running"
    # The stop let the instance's lock go: the next operation on it is accepted and runs.
    again = run_operation(engine, start_request("dev-box"), timeout=60)
    assert again.status == "ready", again.summary()
