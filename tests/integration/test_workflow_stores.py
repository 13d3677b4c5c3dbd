"""The operations table's stores: every contract check runs on the DynamoDB adapter (DynamoDB Local,
the table built from template.yaml) and on the in-memory fake the unit tests use, so the fake keeps
the adapter's promises."""

from __future__ import annotations

import threading

import pytest

from novita_orchestrator.steps import leases
from novita_orchestrator.store.env_values_store import DynamoEnvValuesStore, EnvValuesStore
from novita_orchestrator.store.lease_store import DynamoLeaseStore, Lease, LeaseChanged, LeaseStore
from novita_orchestrator.store.lock_store import DynamoLockStore, LockHeld, LockStore
from novita_orchestrator.store.operations_store import (
    ChangeResult,
    DynamoOperationsStore,
    OperationNotFound,
    OperationsStore,
)
from novita_orchestrator.store.startup_stats_store import DynamoStartupStatsStore, StartupStatsStore
from novita_orchestrator.times import iso
from novita_orchestrator.workflow.errors import LeaseNotFound
from tests.support.dynamodb_local import DynamoDBLocal, operations_of_instance
from tests.support.store_fakes import (
    InMemoryEnvValuesStore,
    InMemoryLeaseStore,
    InMemoryLockStore,
    InMemoryOperationsStore,
    InMemoryStartupStatsStore,
)

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0
STORES = ["in-memory", "dynamodb"]


@pytest.fixture(scope="module")
def table(dynamodb_local: DynamoDBLocal) -> str:
    return dynamodb_local.create_table_from_template("OperationsTable")


@pytest.fixture(params=STORES)
def operations(request: pytest.FixtureRequest, table: str) -> OperationsStore:
    if request.param == "in-memory":
        return InMemoryOperationsStore()
    return DynamoOperationsStore(request.getfixturevalue("dynamodb_local").client(), table)


@pytest.fixture(params=STORES)
def locks(request: pytest.FixtureRequest, table: str) -> LockStore:
    if request.param == "in-memory":
        return InMemoryLockStore()
    return DynamoLockStore(request.getfixturevalue("dynamodb_local").client(), table)


@pytest.fixture(params=STORES)
def stats(request: pytest.FixtureRequest, table: str) -> StartupStatsStore:
    if request.param == "in-memory":
        return InMemoryStartupStatsStore()
    return DynamoStartupStatsStore(request.getfixturevalue("dynamodb_local").client(), table)


@pytest.fixture(params=STORES)
def env_values(request: pytest.FixtureRequest, table: str) -> EnvValuesStore:
    if request.param == "in-memory":
        return InMemoryEnvValuesStore()
    return DynamoEnvValuesStore(request.getfixturevalue("dynamodb_local").client(), table)


@pytest.fixture(params=STORES)
def lease_store(request: pytest.FixtureRequest, table: str) -> LeaseStore:
    if request.param == "in-memory":
        return InMemoryLeaseStore()
    return DynamoLeaseStore(request.getfixturevalue("dynamodb_local").client(), table)


def _new(operations: OperationsStore, operation_id: str, now: float = NOW) -> None:
    operations.create(
        operation_id=operation_id,
        kind="start",
        target="dev-box",
        phase="resolving",
        now=now,
        webhook_url="https://hooks.example.com/x",
    )


# --- operations ------------------------------------------------------------------------------------


def test_a_created_operation_reads_back_running_in_its_first_phase(operations: OperationsStore) -> None:
    _new(operations, "op-create-1")
    record = operations.get("op-create-1")
    assert record is not None
    assert (record.status, record.phase, record.kind, record.target) == (
        "running",
        "resolving",
        "start",
        "dev-box",
    )
    assert record.phases == {"resolving": iso(NOW)}
    assert record.notifications == []
    assert record.webhook_url == "https://hooks.example.com/x"


def test_creating_again_with_the_same_id_keeps_the_first_record(operations: OperationsStore) -> None:
    _new(operations, "op-create-2", now=NOW)
    again = operations.create(
        operation_id="op-create-2", kind="create", target="other", phase="resolving", now=NOW + 50
    )
    assert (again.kind, again.target, again.created_at) == ("start", "dev-box", iso(NOW))


def test_a_phase_change_is_recorded_and_notified_once(operations: OperationsStore) -> None:
    _new(operations, "op-phase-1")
    first = operations.change_phase(
        "op-phase-1",
        phase="starting",
        notification_type="instance.startup.initiated",
        change_key="launch",
        now=NOW + 1,
    )
    assert first.result is ChangeResult.CHANGED
    assert first.phases == {"resolving": iso(NOW), "starting": iso(NOW + 1)}

    # A later poll in the same phase: nothing to notify, but the counter moves.
    later = operations.change_phase(
        "op-phase-1",
        phase="starting",
        notification_type="instance.startup.progress",
        change_key="poll:1",
        now=NOW + 5,
        counters={"polls": 1},
    )
    assert later.result is ChangeResult.UNCHANGED
    record = operations.get("op-phase-1")
    assert record is not None
    assert record.notifications == ["instance.startup.initiated"]
    assert record.polls == 1
    assert record.phases["starting"] == iso(NOW + 1)


def test_a_retried_step_learns_its_change_was_already_recorded(operations: OperationsStore) -> None:
    _new(operations, "op-phase-2")
    operations.change_phase(
        "op-phase-2",
        phase="pulling",
        notification_type="instance.startup.progress",
        change_key="poll:3",
        now=NOW,
    )
    retry = operations.change_phase(
        "op-phase-2",
        phase="pulling",
        notification_type="instance.startup.progress",
        change_key="poll:3",
        now=NOW + 2,
    )
    assert retry.result is ChangeResult.REPEATED
    record = operations.get("op-phase-2")
    assert record is not None
    assert record.notifications == ["instance.startup.progress"]  # not appended twice


def test_a_finished_operation_takes_no_more_phase_changes(operations: OperationsStore) -> None:
    _new(operations, "op-phase-3")
    operations.finish(
        "op-phase-3",
        status="failed",
        phase="failed",
        notification_type="instance.startup.failed",
        outcome={"code": "STARTUP_FAILED", "message": "boom"},
        now=NOW + 3,
    )
    late = operations.change_phase(
        "op-phase-3",
        phase="running",
        notification_type="instance.startup.progress",
        change_key="poll:9",
        now=NOW + 4,
    )
    assert late.result is ChangeResult.UNCHANGED
    record = operations.get("op-phase-3")
    assert record is not None
    assert (record.status, record.phase) == ("failed", "failed")
    assert record.outcome == {"code": "STARTUP_FAILED", "message": "boom"}


def test_finish_is_recorded_once(operations: OperationsStore) -> None:
    _new(operations, "op-finish-1")
    first = operations.finish(
        "op-finish-1",
        status="ready",
        phase="ready",
        notification_type="instance.startup.completed",
        outcome=None,
        now=NOW + 9,
    )
    second = operations.finish(
        "op-finish-1",
        status="failed",
        phase="failed",
        notification_type="instance.startup.failed",
        outcome={"code": "INTERNAL", "message": "late"},
        now=NOW + 10,
    )
    assert first.status == second.status == "ready"
    assert second.notifications == ["instance.startup.completed"]
    assert second.phases["ready"] == iso(NOW + 9)


def test_finish_records_an_operation_that_was_never_created(operations: OperationsStore) -> None:
    record = operations.finish(
        "op-finish-never",
        status="failed",
        phase="failed",
        notification_type="instance.startup.failed",
        outcome={"code": "INVALID_REQUEST", "message": "start.ref: required"},
        now=NOW,
        defaults={"kind": "start", "target": "x"},
    )
    assert (record.operation_id, record.status, record.kind, record.target) == (
        "op-finish-never",
        "failed",
        "start",
        "x",
    )
    assert record.phases == {"failed": iso(NOW)}


def test_a_create_by_gpu_type_records_the_offer_used_and_the_offers_tried(
    operations: OperationsStore,
) -> None:
    _new(operations, "op-offers")
    offer = {"productId": "prod-a", "clusterId": "cl-b", "gpuNum": 2, "pricePerHour": 0.7}
    tried = [{**offer, "clusterId": "cl-a", "outcome": "sold out"}, {**offer, "outcome": "created"}]
    operations.set_instance(
        "op-offers",
        instance_id="inst-offers",
        instance_name="n",
        product_id="prod-a",
        now=NOW,
        offer=offer,
        offers_tried=tried,
    )
    record = operations.get("op-offers")
    assert record is not None
    assert (record.offer, record.offers_tried) == (offer, tried)
    assert record.to_json()["offersTried"][0]["outcome"] == "sold out"


def test_an_operation_that_never_started_finishes_without_a_notification(operations: OperationsStore) -> None:
    _new(operations, "op-finish-quiet")
    record = operations.finish(
        "op-finish-quiet",
        status="failed",
        phase="failed",
        notification_type=None,
        outcome={"code": "WORKFLOW_NOT_STARTED", "message": "the workflow could not be started"},
        now=NOW + 1,
    )
    assert (record.status, record.notifications) == ("failed", [])
    assert record.outcome == {"code": "WORKFLOW_NOT_STARTED", "message": "the workflow could not be started"}


def test_updates_of_an_unknown_operation_say_so(operations: OperationsStore) -> None:
    with pytest.raises(OperationNotFound):
        operations.record_counters("op-nowhere", now=NOW, counters={"polls": 1})
    with pytest.raises(OperationNotFound):
        operations.change_phase("op-nowhere", phase="x", notification_type="t", change_key="k", now=NOW)


def test_operations_are_queryable_by_instance_newest_first(dynamodb_local: DynamoDBLocal, table: str) -> None:
    # The table's index (template.yaml), as an operator or a later feature reads it.
    operations = DynamoOperationsStore(dynamodb_local.client(), table)
    for i, operation_id in enumerate(["op-inst-old", "op-inst-new"]):
        _new(operations, operation_id, now=NOW + i * 60)
        operations.set_instance(
            operation_id,
            instance_id="inst-gsi-1",
            instance_name="dev-box",
            product_id="prod-x",
            now=NOW + i * 60,
        )
    _new(operations, "op-inst-other")
    operations.set_instance(
        "op-inst-other", instance_id="inst-gsi-2", instance_name="b", product_id=None, now=NOW
    )

    found = operations_of_instance(dynamodb_local.client(), table, "inst-gsi-1")
    assert [r.operation_id for r in found] == ["op-inst-new", "op-inst-old"]
    assert found[0].instance_name == "dev-box"
    assert found[0].product_id == "prod-x"


# --- locks -----------------------------------------------------------------------------------------


def test_a_held_lock_refuses_another_operation_and_names_the_holder(locks: LockStore) -> None:
    locks.acquire("inst-lock-1", operation_id="op-a", now=NOW, expires_at=NOW + 600)
    with pytest.raises(LockHeld) as refused:
        locks.acquire("inst-lock-1", operation_id="op-b", now=NOW + 1, expires_at=NOW + 601)
    assert refused.value.holder == "op-a"
    assert locks.holder("inst-lock-1") == "op-a"


def test_the_holder_may_take_its_lock_again(locks: LockStore) -> None:
    locks.acquire("inst-lock-2", operation_id="op-a", now=NOW, expires_at=NOW + 600)
    locks.acquire("inst-lock-2", operation_id="op-a", now=NOW + 1, expires_at=NOW + 600)
    assert locks.holder("inst-lock-2") == "op-a"


def test_only_the_holder_releases_a_lock(locks: LockStore) -> None:
    locks.acquire("inst-lock-3", operation_id="op-a", now=NOW, expires_at=NOW + 600)
    assert locks.release("inst-lock-3", operation_id="op-b") is False
    assert locks.holder("inst-lock-3") == "op-a"
    assert locks.release("inst-lock-3", operation_id="op-a") is True
    assert locks.holder("inst-lock-3") is None
    locks.acquire("inst-lock-3", operation_id="op-b", now=NOW + 2, expires_at=NOW + 600)
    assert locks.holder("inst-lock-3") == "op-b"


def test_an_expired_lock_is_taken_over(locks: LockStore) -> None:
    locks.acquire("inst-lock-4", operation_id="op-crashed", now=NOW, expires_at=NOW + 600)
    with pytest.raises(LockHeld):
        locks.acquire("inst-lock-4", operation_id="op-new", now=NOW + 599, expires_at=NOW + 1200)
    locks.acquire("inst-lock-4", operation_id="op-new", now=NOW + 601, expires_at=NOW + 1200)
    assert locks.holder("inst-lock-4") == "op-new"


def test_two_threads_racing_for_one_lock_exactly_one_wins(dynamodb_local: DynamoDBLocal, table: str) -> None:
    contenders = 8
    barrier = threading.Barrier(contenders)
    winners: list[str] = []
    refused: list[str] = []
    guard = threading.Lock()

    def contend(operation_id: str) -> None:
        store = DynamoLockStore(dynamodb_local.client(), table)
        barrier.wait()
        try:
            store.acquire("inst-race", operation_id=operation_id, now=NOW, expires_at=NOW + 600)
        except LockHeld as held:
            with guard:
                refused.append(held.holder)
            return
        with guard:
            winners.append(operation_id)

    threads = [threading.Thread(target=contend, args=(f"op-racer-{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(winners) == 1
    assert len(refused) == contenders - 1
    assert set(refused) == set(winners)  # every loser was told who won
    assert DynamoLockStore(dynamodb_local.client(), table).holder("inst-race") == winners[0]


# --- startup stats ---------------------------------------------------------------------------------


def test_stats_return_the_newest_n_durations_newest_first(stats: StartupStatsStore) -> None:
    for i, duration in enumerate([100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.5]):
        stats.record(
            "prod-stats-1",
            operation_id=f"op-s{i}",
            running_at=iso(NOW + i * 1000),
            duration_seconds=duration,
            now=NOW,
        )
    stats.record("prod-stats-2", operation_id="op-other", running_at=iso(NOW), duration_seconds=5.0, now=NOW)
    assert stats.recent("prod-stats-1", 5) == [160.5, 150.0, 140.0, 130.0, 120.0]
    assert stats.recent("prod-stats-2", 5) == [5.0]
    assert stats.recent("prod-none", 5) == []
    assert stats.recent("prod-stats-1", 0) == []


def test_recording_the_same_startup_twice_keeps_one_entry(stats: StartupStatsStore) -> None:
    for _ in range(2):
        stats.record(
            "prod-stats-3", operation_id="op-once", running_at=iso(NOW), duration_seconds=42.0, now=NOW
        )
    assert stats.recent("prod-stats-3", 5) == [42.0]


# --- a create's env values ---------------------------------------------------------------------------


def test_env_values_read_back_until_deleted(env_values: EnvValuesStore) -> None:
    values = {"HF_TOKEN": "hf-abc", "EMPTY": "", "MODE": "serve"}
    env_values.put("op-envs-1", values, expires_at=NOW + 3600)
    assert env_values.get("op-envs-1") == values
    assert env_values.get("op-envs-other") is None
    env_values.delete("op-envs-1")
    assert env_values.get("op-envs-1") is None
    env_values.delete("op-envs-1")  # deleting again is no error (a retried step)


def test_env_values_leave_the_operation_alone(
    env_values: EnvValuesStore, operations: OperationsStore
) -> None:
    _new(operations, "op-envs-2")
    env_values.put("op-envs-2", {"A": "1"}, expires_at=NOW + 3600)
    env_values.delete("op-envs-2")
    record = operations.get("op-envs-2")
    assert record is not None and record.target == "dev-box"


# --- auto-stop leases ------------------------------------------------------------------------------


def _arm(store: LeaseStore, instance_id: str, operation_id: str, **limits: float) -> Lease:
    return leases.arm(
        store,
        instance_id,
        operation_id=operation_id,
        after_seconds=limits.get("after"),
        idle_seconds=limits.get("idle"),
        warn_seconds=60,
        webhook_url="https://hooks.example.com/n",
        now=NOW,
    )


def test_a_lease_reads_back_as_written_and_a_new_start_sets_the_next_version(lease_store: LeaseStore) -> None:
    first = _arm(lease_store, "inst-lease-a", "op-1", after=600, idle=300)
    again = _arm(lease_store, "inst-lease-a", "op-1", after=600)  # a retried finish: the same lease
    second = _arm(lease_store, "inst-lease-a", "op-2", after=900)

    assert lease_store.get("inst-lease-a") == second
    assert (first.version, again.version, second.version) == (1, 1, 2)
    assert first.expires_at == NOW + 300 and first.warn_at == NOW + 240
    assert second.expires_at == NOW + 900 and second.webhook_url == "https://hooks.example.com/n"


def test_a_lease_changed_since_it_was_read_is_not_overwritten(lease_store: LeaseStore) -> None:
    read = _arm(lease_store, "inst-lease-b", "op-1", idle=300)
    lease_store.put(leases.heartbeat(read, now=NOW + 100), replacing=read)  # someone else wrote first

    with pytest.raises(LeaseChanged):
        lease_store.put(leases.superseded(read), replacing=read)
    with pytest.raises(LeaseChanged):
        lease_store.put(read, replacing=None)  # there is one already
    stored = lease_store.get("inst-lease-b")
    assert stored is not None and (stored.state, stored.expires_at) == ("active", NOW + 400)


def test_heartbeats_postpone_an_idle_lease_and_a_cancel_ends_it(lease_store: LeaseStore) -> None:
    _arm(lease_store, "inst-lease-c", "op-1", idle=300)
    beaten = leases.change_active(
        lease_store, "inst-lease-c", lambda lease: leases.heartbeat(lease, now=NOW + 200)
    )
    cancelled = leases.change_active(lease_store, "inst-lease-c", leases.cancelled)

    assert beaten.expires_at == NOW + 500
    assert cancelled.state == "cancelled"
    with pytest.raises(LeaseNotFound):
        leases.change_active(lease_store, "inst-lease-c", lambda lease: leases.heartbeat(lease, now=NOW))
