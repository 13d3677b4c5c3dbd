"""The lease watcher's step on the in-memory lease store and a fake clock: when it wakes it warns
once per expiry, claims a lease that ran out once and starts its stop under one name, ends for a
cancelled or superseded lease, and hands over to a fresh execution after MAX_WAKEUPS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from novita_orchestrator.steps import leases
from novita_orchestrator.steps.watch_lease import WatchLeaseDeps, lease_stop_operation_id, watch_lease
from novita_orchestrator.store.lease_store import Lease
from novita_orchestrator.workflow.state import WatchState
from tests.support.clock import FakeClock
from tests.support.stepfunctions_fake import RecordingStepFunctions
from tests.support.store_fakes import InMemoryLeaseStore

NOW = 1_800_000_000.0
STOP_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stop"
LEASE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:lease"


@pytest.fixture
def clock() -> FakeClock:
    made = FakeClock()
    made.advance(NOW - made.now())
    return made


@pytest.fixture
def store() -> InMemoryLeaseStore:
    return InMemoryLeaseStore()


@pytest.fixture
def stepfunctions() -> RecordingStepFunctions:
    return RecordingStepFunctions()


@pytest.fixture
def deps(
    store: InMemoryLeaseStore, stepfunctions: RecordingStepFunctions, clock: FakeClock
) -> WatchLeaseDeps:
    return WatchLeaseDeps(
        leases=store,
        starter=leases.ExecutionStarter(stepfunctions),
        stop_state_machine_arn=STOP_MACHINE,
        lease_state_machine_arn=LEASE_MACHINE,
        clock=clock,
    )


def arm(store: InMemoryLeaseStore, clock: FakeClock, **limits: float) -> Lease:
    return leases.arm(
        store,
        "inst-1",
        operation_id="op-" + "a" * 32,
        after_seconds=limits.get("after"),
        idle_seconds=limits.get("idle"),
        warn_seconds=60,
        webhook_url="https://hooks.example.com/n",
        now=clock.now(),
    )


def wake(deps: WatchLeaseDeps, lease: Lease, watch: dict[str, Any] | None = None) -> dict[str, Any]:
    state = leases.watcher_input(lease, 0)
    if watch is not None:
        state["watch"] = watch
    return watch_lease(WatchState.parse(json.loads(json.dumps(state))), deps).to_state()


def test_the_watcher_sleeps_until_the_warning_warns_once_then_stops_once(
    deps: WatchLeaseDeps, store: InMemoryLeaseStore, clock: FakeClock, stepfunctions: RecordingStepFunctions
) -> None:
    lease = arm(store, clock, after=600)

    first = wake(deps, lease)
    assert (first["action"], first["waitSeconds"], first["notification"]) == ("wait", 540, None)
    clock.advance(540)
    warned = wake(deps, lease, first)
    again = wake(deps, lease, warned)  # a repeated wake-up does not warn twice
    clock.advance(60)
    ended = wake(deps, lease, again)
    repeat = wake(deps, lease, again)  # a retried step after the claim starts no second stop

    assert warned["notification"]["event"]["type"] == "instance.autostop.pending"
    assert warned["notification"]["webhook"] == {"url": "https://hooks.example.com/n"}
    assert warned["waitSeconds"] == 60 and again["notification"] is None
    assert (ended["action"], repeat["action"]) == ("end", "end")
    stop_id = lease_stop_operation_id(lease.operation_id)
    assert list(stepfunctions.started) == [stop_id]
    machine, document = stepfunctions.machines[stop_id], stepfunctions.started[stop_id]
    assert machine == STOP_MACHINE
    assert document["request"]["stop"] == {"ref": "inst-1", "leaseVersion": 1}
    claimed = store.get("inst-1")
    assert claimed is not None and (claimed.state, claimed.stop_operation_id) == ("claimed", stop_id)


def test_a_watcher_woken_late_warns_before_it_stops(
    deps: WatchLeaseDeps, store: InMemoryLeaseStore, clock: FakeClock, stepfunctions: RecordingStepFunctions
) -> None:
    lease = arm(store, clock, after=600)
    clock.advance(700)

    late = wake(deps, lease)
    assert late["notification"]["event"]["type"] == "instance.autostop.pending"
    assert stepfunctions.started == {}
    assert wake(deps, lease, late)["action"] == "end"
    assert len(stepfunctions.started) == 1


def test_a_heartbeat_moves_the_next_wake_up_without_waking_the_watcher(
    deps: WatchLeaseDeps, store: InMemoryLeaseStore, clock: FakeClock
) -> None:
    lease = arm(store, clock, idle=300)
    first = wake(deps, lease)
    clock.advance(200)
    leases.change_active(store, "inst-1", lambda current: leases.heartbeat(current, now=clock.now()))
    clock.advance(40)  # the watcher wakes when the old warning was due

    woke = wake(deps, lease, first)

    assert (first["waitSeconds"], woke["notification"], woke["waitSeconds"]) == (240, None, 200)


@pytest.mark.parametrize("ending", ["cancel", "supersede"])
def test_a_cancelled_or_superseded_lease_ends_the_watcher(
    deps: WatchLeaseDeps,
    store: InMemoryLeaseStore,
    clock: FakeClock,
    stepfunctions: RecordingStepFunctions,
    ending: str,
) -> None:
    lease = arm(store, clock, after=600)
    if ending == "cancel":
        leases.change_active(store, "inst-1", leases.cancelled)
    else:
        leases.supersede(store, "inst-1")
    clock.advance(1000)

    assert wake(deps, lease)["action"] == "end"
    assert stepfunctions.started == {}


def test_after_max_wakeups_a_fresh_watcher_takes_over(
    deps: WatchLeaseDeps, store: InMemoryLeaseStore, clock: FakeClock, stepfunctions: RecordingStepFunctions
) -> None:
    lease = arm(store, clock, idle=300)
    watch = {"action": "wait", "waitSeconds": 1, "wakeups": leases.MAX_WAKEUPS - 1, "generation": 0}

    handed_over = wake(deps, lease, watch)

    assert handed_over["action"] == "end"
    [(name, document)] = stepfunctions.started.items()
    assert (name, stepfunctions.machines[name]) == (leases.watcher_name(lease.operation_id, 1), LEASE_MACHINE)
    assert document["watch"]["generation"] == 1 and document["lease"]["version"] == 1
