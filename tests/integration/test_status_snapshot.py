"""Shared status reads: the snapshot store's contract (in-memory fake and DynamoDB Local alike), and
the status reader against the simulator — what Novita is asked, and that a shared row never decides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NotFound
from novita_orchestrator.novita.models import Instance
from novita_orchestrator.settings import NovitaSettings
from novita_orchestrator.steps.resolve_target import find_instance
from novita_orchestrator.steps.status_reader import (
    IDENTITY_MAX_AGE_SECONDS,
    MAX_WAIT_SECONDS,
    SharedReadSettings,
    StatusReader,
)
from novita_orchestrator.store.status_snapshot_store import (
    BACKING_OFF,
    MAX_ROWS_BYTES,
    DynamoSnapshotStore,
    Snapshot,
    SnapshotStoreUnavailable,
    StatusRow,
)
from novita_orchestrator.workflow import phases
from novita_orchestrator.workflow.errors import AmbiguousInstanceName
from tests.support.clock import FakeClock
from tests.support.dynamodb_local import DynamoDBLocal
from tests.support.simulator import TEST_API_KEY, Simulator
from tests.support.status_snapshot_fake import InMemorySnapshotStore

pytestmark = pytest.mark.integration

LIST = "/gpu/instances"
GET = "/gpu/instance"


# --- the store's contract ------------------------------------------------------------------------


@pytest.fixture(params=["in-memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "in-memory":
        yield InMemorySnapshotStore()
        return
    db: DynamoDBLocal = request.getfixturevalue("dynamodb_local")
    yield DynamoSnapshotStore(db.client(), db.create_table_from_template("StatusSnapshotTable"))


def snapshot_of(refreshed_at: float, **statuses: str) -> Snapshot:
    return Snapshot(
        rows={
            key: StatusRow(name=f"name-{key}", status=status, product_id="p")
            for key, status in statuses.items()
        },
        refreshed_at=refreshed_at,
        pages=1,
    )


def test_contract_a_snapshot_only_replaces_an_older_one(store) -> None:
    assert store.load() is None
    assert store.save(snapshot_of(100.0, a="starting")) is True
    assert store.save(snapshot_of(99.0, a="exited")) is False  # a slower refresher's older listing
    assert store.save(snapshot_of(100.0, a="exited")) is False
    assert store.save(snapshot_of(101.5, a="running", b="exited")) is True

    loaded = store.load()
    assert loaded.refreshed_at == 101.5 and loaded.complete
    assert dict(loaded.rows) == {
        "a": StatusRow("name-a", "running", "p"),
        "b": StatusRow("name-b", "exited", "p"),
    }


def test_contract_one_refresher_at_a_time_until_its_lease_runs_out(store) -> None:
    assert store.take_lease("one", now=10.0, until=20.0) is True
    assert store.take_lease("two", now=15.0, until=25.0) is False
    store.release_lease("two")  # not theirs: nothing happens
    assert store.take_lease("two", now=16.0, until=26.0) is False
    assert store.take_lease("two", now=20.5, until=30.5) is True  # the first one's ran out
    store.release_lease("one")  # too late: it is the second one's now
    assert store.take_lease("three", now=21.0, until=31.0) is False
    store.release_lease("two")
    assert store.take_lease("three", now=21.0, until=31.0) is True
    assert store.lease_holder(now=22.0) == "three"
    store.back_off("three", until=60.0)  # its listing failed: a pause nobody else ends
    assert store.lease_holder(now=40.0) == BACKING_OFF
    store.release_lease("three")
    assert store.take_lease("four", now=50.0, until=55.0) is False
    assert store.lease_holder(now=61.0) is None
    assert store.take_lease("four", now=61.0, until=71.0) is True


def test_contract_watches_count_until_they_expire_or_are_removed(store) -> None:
    store.watch("op-1", instance_id="i-1", expires_at=100.0, read_at=20.0, booting=1.0)
    store.watch("op-2", instance_id=None, expires_at=200.0, read_at=30.0, booting=0.25)
    # Each poll tells its next read: the same operation's entry, updated.
    store.watch("op-1", instance_id="i-1", expires_at=300.0, read_at=40.5, booting=0.5)

    assert sorted(
        (w.operation_id, w.instance_id, w.read_at, w.booting) for w in store.watching(now=50.0)
    ) == [
        ("op-1", "i-1", 40.5, 0.5),
        ("op-2", None, 30.0, 0.25),
    ]
    assert [w.operation_id for w in store.watching(now=250.0)] == ["op-1"]
    store.unwatch("op-1")
    store.unwatch("op-unknown")
    assert store.watching(now=250.0) == []


def test_contract_rows_too_many_for_one_item_keep_only_the_watched(store) -> None:
    many = {
        f"inst-{n:05d}": StatusRow(name="x" * 200, status="running") for n in range(MAX_ROWS_BYTES // 200)
    }
    assert store.save(Snapshot(rows=many, refreshed_at=5.0, pages=40), keep=["inst-00007"]) is True

    loaded = store.load()
    assert loaded.complete is False
    assert list(loaded.rows) == ["inst-00007"]


def test_the_adapter_reports_dynamodb_failures_as_unavailable(dynamodb_local: DynamoDBLocal) -> None:
    store = DynamoSnapshotStore(dynamodb_local.client(), "no-such-table")
    with pytest.raises(SnapshotStoreUnavailable):
        store.load()
    with pytest.raises(SnapshotStoreUnavailable):
        store.watching(now=1.0)


# --- the reader against the simulator --------------------------------------------------------------


def instances(count: int, status: str = "starting") -> list[dict[str, Any]]:
    return [
        {
            "id": f"inst-share-{n:03d}",
            "name": f"share-{n:03d}",
            "status": status,
            "productId": "prod-rtx4090-24g",
            "ports": "8080/http",
        }
        for n in range(count)
    ]


class Harness:
    def __init__(self, simulator: Simulator, store: InMemorySnapshotStore, **settings: Any) -> None:
        self.simulator = simulator
        self.store = store
        self.clock = FakeClock(start=1_000.0)
        client = NovitaClient(
            NovitaSettings(
                NOVITA_BASE_URL=simulator.base_url, NOVITA_API_KEY=TEST_API_KEY, NOVITA_RETRY_BUDGET_SECONDS=5
            )
        )
        config = {"max_age_seconds": 2.0, "list_threshold": 0, "page_size": 50} | settings
        self.reader = StatusReader(client, store, self.clock, SharedReadSettings(**config))

    def waiting(self, count: int, *, in_seconds: float = 0.0, booting: float = 1.0) -> None:
        """``count`` operations whose next status read is due ``in_seconds`` from now."""
        now = self.clock.now()
        for n in range(count):
            self.reader.watch(
                f"op-{n}",
                instance_id=f"inst-share-{n:03d}",
                until=now + 600,
                read_at=now + in_seconds,
                booting=booting,
            )

    def requests(self, path: str) -> int:
        return len(self.simulator.admin.journal(path=path, method="GET"))

    def poll(self, instance_id: str, elapsed: float = 10.0) -> Any:
        return self.reader.instance(instance_id, settles=lambda i: settles(i, elapsed))


def settles(instance: Instance, elapsed: float) -> bool:
    verdict = phases.judge_status(instance, seconds_since_launch=elapsed)
    return verdict.failure is not None or verdict.phase == phases.RUNNING


@pytest.fixture
def fake_store() -> InMemorySnapshotStore:
    return InMemorySnapshotStore()


def test_with_few_operations_in_flight_each_read_is_its_own_get(simulator, fake_store) -> None:
    simulator.admin.add_instances(instances(3))
    harness = Harness(simulator, fake_store)
    harness.waiting(1)

    reads = [harness.poll("inst-share-000") for _ in range(3)]

    assert [r.shared for r in reads] == [False, False, False]
    assert (harness.requests(GET), harness.requests(LIST)) == (3, 0)


def test_with_many_in_flight_one_listing_serves_every_poll_within_the_bound(simulator, fake_store) -> None:
    simulator.admin.add_instances(instances(60))  # two pages of 50
    harness = Harness(simulator, fake_store)
    harness.waiting(60)

    first = [harness.poll(f"inst-share-{n:03d}") for n in range(60)]
    harness.clock.advance(1.0)  # still within 3/4 of the 2 s bound: no refresh
    again = [harness.poll(f"inst-share-{n:03d}") for n in range(60)]

    assert all(r.shared and r.instance.status == "starting" for r in first + again)
    # 120 polls, one listing (its pages, and the first listing's page-numbering probe, whatever the
    # dialect), no GET.
    assert (harness.requests(GET), fake_store.saves) == (0, 1)
    assert fake_store.snapshot is not None and fake_store.snapshot.pages == 2
    listed = harness.requests(LIST)
    assert 2 <= listed <= 3
    harness.clock.advance(1.0)  # 2 s old: the next read refreshes it
    harness.poll("inst-share-000")
    assert fake_store.saves == 2 and harness.requests(LIST) == listed + 2


def test_a_listing_is_made_only_for_reads_due_within_the_bound_that_it_would_serve(
    simulator, fake_store
) -> None:
    simulator.admin.add_instances(instances(60))
    harness = Harness(simulator, fake_store)
    harness.waiting(60, in_seconds=30)  # polling every half minute: a 2 s snapshot would serve few
    harness.poll("inst-share-000")
    assert (harness.requests(GET), harness.requests(LIST)) == (1, 0)

    harness.waiting(60, booting=0.01)  # due now, but almost surely running by then: GETs anyway
    harness.poll("inst-share-000")
    assert (harness.requests(GET), harness.requests(LIST)) == (2, 0)

    harness.waiting(60, booting=0.5)  # 30 reads expected from a 2-page listing: it pays
    harness.poll("inst-share-000")
    assert (harness.requests(GET), fake_store.saves) == (2, 1)


def test_a_shared_row_never_decides_running_and_failure_are_read_by_get(simulator, fake_store) -> None:
    seed = instances(10)
    seed[1]["status"] = "running"
    seed[2] |= {"status": "exited", "statusError": {"state": "failed", "message": "no capacity"}}
    simulator.admin.add_instances(seed)
    harness = Harness(simulator, fake_store)
    harness.waiting(10)

    running = harness.poll("inst-share-001")
    failed = harness.poll("inst-share-002")
    with pytest.raises(NotFound):  # not listed: unknown, not gone: the GET says what it is
        harness.poll("inst-share-999")

    assert (running.shared, running.instance.status) == (False, "running")
    assert running.instance.port_mappings[0].endpoint  # the GET carries the endpoint a list row lacks
    assert (failed.shared, failed.instance.status_error.message) == (False, "no capacity")
    assert harness.requests(GET) == 3


def test_a_snapshot_past_the_bound_is_never_used(simulator, fake_store) -> None:
    simulator.admin.add_instances(instances(3))
    harness = Harness(simulator, fake_store, list_threshold=100)  # never worth listing here
    fake_store.save(snapshot_of(harness.clock.now() - 2.5, **{"inst-share-000": "starting"}))

    read = harness.poll("inst-share-000")

    assert read.shared is False and harness.requests(GET) == 1


def test_while_another_refreshes_a_copy_within_the_bound_is_used(simulator, fake_store) -> None:
    simulator.admin.add_instances(instances(3))
    harness = Harness(simulator, fake_store, list_threshold=1)
    harness.waiting(3)
    fake_store.save(snapshot_of(harness.clock.now() - 1.8, **{"inst-share-000": "pulling"}))
    assert fake_store.take_lease("someone-else", now=harness.clock.now(), until=harness.clock.now() + 10)

    read = harness.poll("inst-share-000")

    assert (read.shared, read.instance.status) == (True, "pulling")
    assert (harness.requests(GET), harness.requests(LIST)) == (0, 0)


def test_a_refresher_that_never_finishes_costs_a_bounded_wait_then_a_get(simulator, fake_store) -> None:
    simulator.admin.add_instances(instances(3))
    harness = Harness(simulator, fake_store, list_threshold=1)
    harness.waiting(3)
    assert fake_store.take_lease("crashed", now=harness.clock.now(), until=harness.clock.now() + 10)
    began = harness.clock.now()

    read = harness.poll("inst-share-000")

    assert read.shared is False and harness.requests(GET) == 1
    assert harness.clock.now() - began == pytest.approx(MAX_WAIT_SECONDS, abs=0.3)


def test_a_failing_listing_or_store_falls_back_to_the_get(simulator, fake_store) -> None:
    simulator.admin.add_instances(instances(3))
    harness = Harness(simulator, fake_store, list_threshold=1)
    harness.waiting(3)
    simulator.admin.add_fault(kind="error", method="GET", path=LIST, status=503, count=50)

    listing_failed = harness.poll("inst-share-000")
    fake_store.fail = True
    store_failed = harness.poll("inst-share-000")

    assert (listing_failed.shared, listing_failed.instance.status) == (False, "starting")
    assert (store_failed.shared, store_failed.instance.status) == (False, "starting")
    # After a failed listing nobody lists for a while: reads go straight to their own GET.
    fake_store.fail = False
    listed = harness.requests(LIST)
    began = harness.clock.now()
    assert harness.poll("inst-share-000").shared is False
    assert harness.requests(LIST) == listed and harness.clock.now() == began  # no wait either


def test_names_resolve_from_a_fresh_complete_snapshot_and_fall_back_otherwise(simulator, fake_store) -> None:
    seed = instances(6, status="exited")
    seed[1]["status"] = "running"
    seed[2]["status"] = "removed"
    seed[4]["name"] = seed[3]["name"]  # two instances named share-003
    simulator.admin.add_instances(seed)
    harness = Harness(simulator, fake_store, list_threshold=1)
    harness.waiting(1)

    by_name = harness.reader.find("share-000", fallback=find_instance)
    by_id = harness.reader.find("inst-share-005", fallback=find_instance)
    assert (by_name.id, by_id.id) == ("inst-share-000", "inst-share-005")
    assert harness.requests(GET) == 0  # both from the one listing
    assert harness.requests(LIST) == 1

    running = harness.reader.find("share-001", fallback=find_instance)  # running: confirmed by GET
    assert (running.id, running.status) == ("inst-share-001", "running")
    assert harness.requests(GET) >= 1
    with pytest.raises(AmbiguousInstanceName):
        harness.reader.find("share-003", fallback=find_instance)
    with pytest.raises(NotFound):  # not listed: unknown, so the client decides
        harness.reader.find("inst-share-404", fallback=lambda novita, ref: novita.get_instance(ref))


def test_the_api_knows_a_listed_id_for_minutes_but_a_name_only_while_fresh(simulator, fake_store) -> None:
    simulator.admin.add_instances(instances(3, status="exited"))
    harness = Harness(simulator, fake_store)
    rows = {f"inst-share-00{n}": StatusRow(name=f"share-00{n}", status="exited") for n in (0, 1)}
    fake_store.save(Snapshot(rows=rows, refreshed_at=harness.clock.now() - 120, pages=1))  # two minutes old

    by_id, fresh = harness.reader.identify("inst-share-000", fallback=find_instance)
    assert (by_id.id, fresh, harness.requests(GET), harness.requests(LIST)) == ("inst-share-000", False, 0, 0)

    by_name, fresh = harness.reader.identify("share-001", fallback=find_instance)
    assert (by_name.id, fresh) == ("inst-share-001", True)
    assert harness.requests(GET) >= 1  # a name is never taken from an old snapshot

    harness.clock.advance(IDENTITY_MAX_AGE_SECONDS)  # too old now even for an ID
    harness.reader.identify("inst-share-000", fallback=find_instance)
    assert harness.requests(GET) >= 2
