"""The fault matrix: the whole service under Novita, Lambda and webhook faults, nothing lost.

The real state machine and functions run on the embedded engine against the Novita simulator's
fault injection, on simulated time. Every case checks, through :func:`nothing_lost`, that each
accepted operation ends in exactly one terminal state with exactly one terminal notification, that
notification is delivered to the webhook receiver or parked in the dead-letter queue, no instance is
created twice, and Novita got no more start / create POSTs than the policy allows. Each case fills
its row of docs/RELIABILITY.md (written by tests/reliability/conftest.py after a full run).

The last test scans everything the service emitted during the module for secrets.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from novita_local.engine import LocalEngine
from novita_local.operations import (
    Operation,
    create_request,
    follow,
    lease_stop_operation,
    queued_notifications,
    start_operation,
    start_request,
    stop_request,
)
from novita_local.serve import ApiServer
from novita_local.simulator import Simulator
from novita_local.webhooks import deliver_notifications, new_signing_secret
from novita_orchestrator.clock import clock_for_scale
from novita_orchestrator.store.lock_store import lock_key
from novita_orchestrator.store.status_snapshot_store import DynamoSnapshotStore, Snapshot, StatusRow
from novita_orchestrator.workflow.request import OperationRequest
from tests.support.ports import free_port
from tests.support.receiver import Receiver
from tests.support.reliability import (
    Emitted,
    MatrixRow,
    nothing_lost,
    secret_findings,
    summarize,
    table_items,
)
from tests.support.simulator import TEST_API_KEY, session_simulator
from tests.support.workflow import TIME_SCALE, clear_table, workflow_engine

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(180)]

MAX_ATTEMPTS = 4
SIGNING_SECRET = new_signing_secret()
ENVIRONMENT = {
    "NOVITA_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    # Real seconds (HTTP timeouts are not scaled): a delay fault of 1.5 s is "past the timeout".
    "NOVITA_READ_TIMEOUT_SECONDS": "1",
    "NOVITA_CONNECT_TIMEOUT_SECONDS": "1",
    # Simulated seconds: 3 real seconds, room for a timed-out attempt and the check after it.
    "NOVITA_RETRY_BUDGET_SECONDS": "300",
    # Three webhook attempts within about two seconds.
    "WEBHOOK_RETRY_SCHEDULE_SECONDS": "1,1",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_SIGNING_SECRET": SIGNING_SECRET,
    # Shared status reads on, at their most eager: a listing as soon as one read is due, so every
    # case runs its polls through the snapshot (a stale or missing one must only make it slower).
    "STATUS_SNAPSHOT_LIST_THRESHOLD": "1",
}
SLOW_SECONDS = 1.5
OPERATION_TIMEOUT = 90.0
DELIVERY_TIMEOUT = 60.0
PRIVATE_TEMPLATE = "tpl-private-app"
PRODUCT = "prod-rtx4090-24g"
TABLES = ("OperationsTable", "ResilienceTable", "IdempotencyTable", "StatusSnapshotTable")

STARTUP_FAILED = ("failed", "STARTUP_FAILED")
READY = ("ready", None)
STOPPED = ("stopped", None)


@dataclass
class World:
    engine: LocalEngine
    simulator: Simulator
    receiver: Receiver
    emitted: Emitted
    logs: io.StringIO
    collected_executions: set[str] = field(default_factory=set)
    received_so_far: int = 0
    api: ApiServer | None = None

    def hook(self) -> str:
        return self.receiver.url("/hook")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One engine, receiver and log capture for the module (one engine per process at a time)."""
    from novita_orchestrator.observability import logger

    simulator = session_simulator()
    logs = io.StringIO()
    handler = logger.registered_handler
    previous_stream, previous_level = handler.stream, logger.log_level  # type: ignore[attr-defined]
    handler.setStream(logs)  # type: ignore[attr-defined]
    logger.setLevel("DEBUG")
    std_handler = logging.StreamHandler(logs)
    root = logging.getLogger()
    previous_root_level = root.level
    root.addHandler(std_handler)
    root.setLevel(logging.INFO)
    try:
        with Receiver() as receiver, workflow_engine(simulator, TIME_SCALE, **ENVIRONMENT) as engine:
            made = World(engine, simulator, receiver, Emitted(), logs)
            try:
                yield made
            finally:
                if made.api is not None:
                    made.api.stop()
    finally:
        root.removeHandler(std_handler)
        root.setLevel(previous_root_level)
        handler.setStream(previous_stream)  # type: ignore[attr-defined]
        logger.setLevel(previous_level)


@pytest.fixture(autouse=True)
def fresh_world(world: World, simulator: Simulator, capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Default seed on simulated time, no breaker state or locks from the case before; afterwards,
    everything the case made the service emit goes to ``world.emitted``."""
    simulator.admin.set_config(time_scale=TIME_SCALE)
    for table in TABLES:
        clear_table(world.engine, table)
    yield
    collect_emitted(world, capfd)


def collect_emitted(world: World, capfd: pytest.CaptureFixture[str]) -> None:
    emitted, engine = world.emitted, world.engine
    emitted.add("logs", world.logs.getvalue())
    world.logs.seek(0)
    world.logs.truncate()
    captured = capfd.readouterr()
    emitted.add("stdout/stderr", captured.out + captured.err)
    client = engine.boto_client("stepfunctions")
    for machine in ("StartInstanceStateMachine", "StopInstanceStateMachine", "LeaseWatcherStateMachine"):
        listed = client.list_executions(stateMachineArn=engine.resource_arn(machine))["executions"]
        for execution in listed:
            arn = execution["executionArn"]
            if arn in world.collected_executions or execution["status"] == "RUNNING":
                continue
            world.collected_executions.add(arn)
            emitted.add_json("execution history", engine.execution_history(arn))
            emitted.add_json("execution", engine.describe_execution(arn))
    for queue in ("WebhookQueue", "WebhookDeadLetterQueue"):
        emitted.add("queue messages", "\n".join(m.body for m in engine.queue_messages(queue)))
    received = world.receiver.requests()
    for request in received[world.received_so_far :]:
        emitted.add("webhook requests", json.dumps(request.headers) + request.body.decode("utf-8", "replace"))
    world.received_so_far = len(received)
    emitted.add_json("dynamodb items", table_items(engine, TABLES))
    emitted.add_json("handler events", [call.event for call in engine.invocations()])


# --- running a case ------------------------------------------------------------------------------


def run_operations(
    world: World,
    requests_: Sequence[OperationRequest],
    *,
    once_started: Callable[[list[Operation]], None] | None = None,
) -> list[Operation]:
    """Start the operations, follow them to their end, then deliver their webhooks."""
    operations = [start_operation(world.engine, request) for request in requests_]
    if once_started is not None:
        once_started(operations)
    return finish(world, operations)


def finish(world: World, operations: list[Operation]) -> list[Operation]:
    follow(world.engine, operations, timeout=OPERATION_TIMEOUT)
    # The dispatcher deletes what it delivers: keep the messages as the workflow queued them.
    world.emitted.add(
        "queue messages", "\n".join(m.body for m in world.engine.queue_messages("WebhookQueue"))
    )
    deliver_notifications(world.engine, [op.operation_id for op in operations], timeout=DELIVERY_TIMEOUT)
    return operations


def check(
    world: World,
    row: MatrixRow,
    operations: Sequence[Operation],
    expected: Sequence[tuple[str, str | None]],
    *,
    receiver: Receiver | None = None,
) -> None:
    """Nothing lost, then the expected outcome per operation; the row shows what was seen."""
    outcomes = nothing_lost(
        world.engine,
        world.simulator,
        operations,
        receiver=world.receiver if receiver is None else receiver,
        max_attempts=MAX_ATTEMPTS,
    )
    for name, value in summarize(outcomes).items():
        setattr(row, name, value)
    assert [(o.status, o.code) for o in outcomes] == list(expected), [op.summary() for op in operations]


def describe(row: MatrixRow, fault: str, expected: Sequence[tuple[str, str | None]]) -> None:
    row.fault = fault
    row.expected = "; ".join(status + (f" `{code}`" if code else "") for status, code in expected)


def start(world: World, ref: str = "dev-box", **extra: Any) -> OperationRequest:
    return start_request(ref, webhook_url=world.hook(), **extra)


def create(world: World, name: str, **extra: Any) -> OperationRequest:
    return create_request(
        template_id=PRIVATE_TEMPLATE, product_id=PRODUCT, name=name, webhook_url=world.hook(), **extra
    )


def posts(simulator: Simulator, path: str) -> list[int | None]:
    return [entry["status"] for entry in simulator.admin.journal(path=path, method="POST")]


# --- Novita answers 5xx, 429, slowly, or not at all ----------------------------------------------

BURSTS = [
    pytest.param("GET", "/gpu/instances", "start", id="list-instances"),
    pytest.param("GET", "/gpu/instance", "start", id="get-instance"),
    pytest.param("POST", "/gpu/instance/start", "start", id="start"),
    pytest.param("GET", "/template", "create", id="get-template"),
    pytest.param("GET", "/repository/auths", "create", id="registry-auths"),
    pytest.param("POST", "/gpu/instance/create", "create", id="create"),
]


@pytest.mark.parametrize(("method", "path", "kind"), BURSTS)
def test_a_5xx_burst_on_an_endpoint_is_retried(
    world: World, simulator: Simulator, row: MatrixRow, method: str, path: str, kind: str
):
    """5xx burst"""
    describe(row, f"3 x HTTP 503 on `{method} {path}` ({kind})", [READY])
    simulator.admin.add_fault(kind="error", method=method, path=path, status=503, count=3)

    request = start(world) if kind == "start" else create(world, f"burst-{path.strip('/').replace('/', '-')}")
    operations = run_operations(world, [request])

    check(world, row, operations, [READY])
    answered = [e["status"] for e in simulator.admin.journal(path=path, method=method)]
    assert answered[:3] == [503, 503, 503], answered  # the fault did happen


def test_a_429_with_retry_after_is_waited_out(world: World, simulator: Simulator, row: MatrixRow):
    """429 with `Retry-After`"""
    describe(row, "2 x HTTP 429 `Retry-After: 1` on the start POST and on `GET /gpu/instance`", [READY])
    simulator.admin.add_fault(kind="rate_limit", method="POST", path="/gpu/instance/start", count=2)
    simulator.admin.add_fault(kind="rate_limit", method="GET", path="/gpu/instance", count=2)

    operations = run_operations(world, [start(world)])

    check(world, row, operations, [READY])
    assert posts(simulator, "/gpu/instance/start") == [429, 429, 200]


SLOW = [
    pytest.param("GET", "/gpu/instance", "start", READY, id="get-instance"),
    pytest.param("POST", "/gpu/instance/start", "start", READY, id="start"),
    pytest.param("POST", "/gpu/instance/create", "create", READY, id="create"),
]


@pytest.mark.parametrize(("method", "path", "kind", "expected"), SLOW)
def test_a_response_slower_than_the_timeout(
    world: World,
    simulator: Simulator,
    row: MatrixRow,
    method: str,
    path: str,
    kind: str,
    expected: tuple[str, str | None],
):
    """Slow response past the timeout"""
    describe(row, f"`{method} {path}` answers after {SLOW_SECONDS} s, past the 1 s read timeout", [expected])
    simulator.admin.add_fault(kind="delay", method=method, path=path, seconds=SLOW_SECONDS, count=1)

    request = start(world) if kind == "start" else create(world, "slow-create")
    operations = run_operations(world, [request])
    wait_for_journal(simulator, method, path)  # the slow request lands after the caller gave up

    check(world, row, operations, [expected])
    if kind == "create":
        # A create whose answer timed out is never sent again (Novita may still be making it): the
        # client waits for the instance to appear under its name and the operation carries on with
        # it, the only instance with that name.
        assert len(posts(simulator, "/gpu/instance/create")) == 1
        named = [i["id"] for i in simulator.admin.state()["instances"] if i["name"] == "slow-create"]
        assert named == [operations[0].summary()["instanceId"]]


def wait_for_journal(simulator: Simulator, method: str, path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not simulator.admin.journal(path=path, method=method):
        assert time.monotonic() < deadline, f"{method} {path} never reached the simulator"
        time.sleep(0.05)


DROPS = [
    pytest.param("GET", "/gpu/instance", "before", "start", id="get-instance-before"),
    pytest.param("POST", "/gpu/instance/start", "after", "start", id="start-after"),
    pytest.param("POST", "/gpu/instance/create", "after", "create", id="create-after"),
]


@pytest.mark.parametrize(("method", "path", "when", "kind"), DROPS)
def test_a_dropped_connection(
    world: World, simulator: Simulator, row: MatrixRow, method: str, path: str, when: str, kind: str
):
    """Dropped connection"""
    describe(row, f"`{method} {path}` connection dropped {when} Novita processed it", [READY])
    simulator.admin.add_fault(kind="drop", method=method, path=path, when=when, count=1)

    request = start(world) if kind == "start" else create(world, "dropped-create")
    operations = run_operations(world, [request])

    check(world, row, operations, [READY])
    if kind == "create":
        assert len(posts(simulator, "/gpu/instance/create")) == 1  # found by name, not re-sent


# Where a dialect changes the client's path (paging the name lookup, a refusal or lost answer read
# back through the status, the lookup of a lost create): each case in every dialect.
DIALECT_SENSITIVE = [
    pytest.param("error", "GET", "/gpu/instances", "start", id="list-5xx"),
    pytest.param("drop", "POST", "/gpu/instance/start", "start", id="start-answer-lost"),
    pytest.param("drop", "POST", "/gpu/instance/create", "create", id="create-answer-lost"),
]


@pytest.mark.every_dialect
@pytest.mark.parametrize(("fault", "method", "path", "kind"), DIALECT_SENSITIVE)
def test_a_fault_in_every_dialect(
    world: World,
    simulator: Simulator,
    row: MatrixRow,
    dialects: tuple[str, ...],
    fault: str,
    method: str,
    path: str,
    kind: str,
):
    """A fault in each Novita dialect"""
    what = "3 x HTTP 503" if fault == "error" else "connection dropped after processing"
    describe(row, f"{what} on `{method} {path}` ({kind} by name)", [READY])
    if fault == "error":
        simulator.admin.add_fault(kind="error", method=method, path=path, status=503, count=3)
    else:
        simulator.admin.add_fault(kind="drop", method=method, path=path, when="after", count=1)

    request = start(world) if kind == "start" else create(world, "dialect-create")
    operations = run_operations(world, [request])

    check(world, row, operations, [READY])
    if kind == "create":
        assert len(posts(simulator, "/gpu/instance/create")) == 1  # found by name, not re-sent


# --- the instance or its app misbehaves ------------------------------------------------------------


@pytest.mark.every_dialect
def test_a_status_error_during_start(
    world: World, simulator: Simulator, row: MatrixRow, dialects: tuple[str, ...]
):
    """`statusError` during start"""
    describe(row, "the start ends `exited` with `statusError`", [STARTUP_FAILED])
    simulator.admin.add_fault(kind="status_error", instance_name="dev-box", message="GPU fell off the bus")

    operations = run_operations(world, [start(world, timeout=3600)])

    check(world, row, operations, [STARTUP_FAILED])
    assert len(posts(simulator, "/gpu/instance/start")) == 1


def test_a_status_error_during_create(world: World, simulator: Simulator, row: MatrixRow):
    """`statusError` during create"""
    describe(row, "the create ends `exited` with `statusError`", [STARTUP_FAILED])
    simulator.admin.add_fault(kind="status_error", instance_name="doomed-create", message="image pull failed")

    operations = run_operations(world, [create(world, "doomed-create", timeout=3600)])

    check(world, row, operations, [STARTUP_FAILED])
    assert len(posts(simulator, "/gpu/instance/create")) == 1  # a failed create is not repeated


def test_an_instance_stuck_in_starting(world: World, simulator: Simulator, row: MatrixRow):
    """Instance stuck in `starting`"""
    expected = [("failed", "STARTUP_TIMEOUT")]
    describe(row, "`starting` lasts longer than the operation's 60 s timeout", expected)
    simulator.admin.set_config(starting=100_000)

    operations = run_operations(world, [start(world, timeout=60)])

    check(world, row, operations, expected)


def test_an_app_that_never_gets_healthy(world: World, simulator: Simulator, row: MatrixRow):
    """App never healthy"""
    expected = [("failed", "APP_NEVER_HEALTHY")]
    describe(row, "the instance runs, its app answers 503 until the 300 s timeout", expected)
    simulator.admin.add_fault(kind="never_healthy", instance_id="inst-dev-box")

    operations = run_operations(world, [start(world, timeout=300)])

    check(world, row, operations, expected)


# --- shared status reads: a snapshot that is wrong, or that cannot be made ----------------------------

LAGGING = [
    pytest.param("starting", None, id="starting-while-running"),
    pytest.param("running", None, id="running-while-exited"),
    pytest.param("exited", "GPU fell off the bus", id="stale-status-error"),
]


@pytest.mark.parametrize(("status", "error"), LAGGING)
def test_a_snapshot_that_lags_behind_novita(
    world: World, simulator: Simulator, row: MatrixRow, status: str, error: str | None
):
    """Status snapshot lagging behind"""
    shown = f"`{status}`" + (f" with a stale `statusError` ({error})" if error else "")
    describe(row, f"the shared snapshot shows `dev-box` {shown} and is never refreshed", [READY])
    plant_snapshot(world, status, error)

    operations = run_operations(world, [start(world)])

    check(world, row, operations, [READY])
    assert len(posts(simulator, "/gpu/instance/start")) == 1
    if status == "starting":
        # The lagging row was used, and a GET at least once a simulated minute still saw "running".
        gets = len(simulator.admin.journal(path="/gpu/instance", method="GET"))
        assert gets < (operations[0].record or {})["polls"] + 1


def plant_snapshot(world: World, status: str, error: str | None) -> None:
    """A snapshot that stays fresh (listed "in the future") and so is never refreshed."""
    store = DynamoSnapshotStore(
        world.engine.boto_client("dynamodb"), world.engine.resource_name("StatusSnapshotTable")
    )
    row = StatusRow(
        name="dev-box",
        status=status,
        product_id=PRODUCT,
        status_error={"state": "failed", "message": error} if error else None,
    )
    now = clock_for_scale(TIME_SCALE).now()
    assert store.save(Snapshot(rows={"inst-dev-box": row}, refreshed_at=now + 10**7, pages=1))


def plant_demand(world: World, operations: int) -> None:
    """Other operations waiting on booting instances, their reads always due: a listing pays."""
    store = DynamoSnapshotStore(
        world.engine.boto_client("dynamodb"), world.engine.resource_name("StatusSnapshotTable")
    )
    now = clock_for_scale(TIME_SCALE).now()
    for n in range(operations):
        store.watch(
            f"op-other-{n}", instance_id=f"inst-other-{n}", expires_at=now + 10**7, read_at=now, booting=1
        )


def test_the_list_endpoint_down_for_the_whole_operation(world: World, simulator: Simulator, row: MatrixRow):
    """List endpoint down"""
    describe(row, "every `GET /gpu/instances` answers 503 (no snapshot can be made); start by ID", [READY])
    simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instances", status=503, count=None)
    # A listing must be worth making for it to be tried: other operations' reads are due (one
    # operation alone reads by GET, and nothing would be listed), and dev-box boots for ten simulated
    # minutes, so its polls come while the listing is wanted however slowly the machine runs them.
    simulator.admin.set_config(starting=600)
    plant_demand(world, operations=4)

    operations = run_operations(world, [start(world, "inst-dev-box")])

    check(world, row, operations, [READY])
    # One listing tried (its attempts all 503), then a pause: the polls read by GET meanwhile.
    assert 1 <= len(simulator.admin.journal(path="/gpu/instances")) <= MAX_ATTEMPTS


# --- whole dependencies down ------------------------------------------------------------------------


def test_novita_down_for_the_whole_operation_opens_the_breaker(
    world: World, simulator: Simulator, row: MatrixRow
):
    """Novita down for the whole operation (breaker)"""
    expected = [("failed", "NOVITA_UNAVAILABLE")]
    describe(row, "every Novita request answers 503", expected)
    simulator.admin.add_fault(kind="error", status=503, count=None)

    operations = run_operations(world, [start(world)])

    check(world, row, operations, expected)
    assert "breaker" in str((operations[0].record or {}).get("outcome")).lower()
    # The breaker stopped the calls: 5 consecutive failures open it (one client call makes 4 attempts).
    assert len(simulator.admin.journal()) <= 8, len(simulator.admin.journal())


def test_the_webhook_receiver_down_for_the_whole_schedule(world: World, simulator: Simulator, row: MatrixRow):
    """Webhook receiver down for the whole schedule"""
    describe(row, "the webhook URL refuses connections on all 3 attempts", [READY])
    down = f"http://127.0.0.1:{free_port()}/down"

    operations = run_operations(world, [start_request("dev-box", webhook_url=down)])

    check(world, row, operations, [READY], receiver=Receiver())  # a receiver that got nothing
    assert row.webhook == "dead-lettered"
    parked = [json.loads(m.body) for m in world.engine.queue_messages("WebhookDeadLetterQueue")]
    mine = [p for p in parked if p["event"]["data"]["operationId"] == operations[0].operation_id]
    # Every notification parked (the dispatcher delivers a batch concurrently: any order).
    assert sorted(p["event"]["type"] for p in mine) == sorted(operations[0].notification_types())


# --- a Lambda fails once ----------------------------------------------------------------------------

LAMBDA_FAILURES = [
    pytest.param("PollStatusFunction", False, "start", id="poll-status"),
    pytest.param("LaunchInstanceFunction", True, "start", id="launch-start-answer-lost"),
    pytest.param("LaunchInstanceFunction", True, "create", id="launch-create-answer-lost"),
    pytest.param("FinishOperationFunction", True, "start", id="finish-answer-lost"),
]


@pytest.mark.parametrize(("function", "after_handler", "kind"), LAMBDA_FAILURES)
def test_a_lambda_failing_once_is_retried_by_step_functions(
    world: World, simulator: Simulator, row: MatrixRow, function: str, after_handler: bool, kind: str
):
    """A Lambda failing once mid-workflow (Step Functions retry)"""
    how = "after its handler ran (its answer lost)" if after_handler else "before its handler ran"
    describe(row, f"`Lambda.ServiceException` once from {function}, {how}", [READY])
    world.engine.fail_next_invocation(function, after_handler=after_handler)

    request = start(world) if kind == "start" else create(world, "retried-create")
    operations = run_operations(world, [request])

    check(world, row, operations, [READY])
    calls = [
        c
        for c in world.engine.invocations(function)
        if c.event.get("operationId") == operations[0].operation_id
    ]
    assert [c.error_type for c in calls][:2] == ["Lambda.ServiceException", None]  # failed once, then retried
    if kind == "create":
        assert len(posts(simulator, "/gpu/instance/create")) == 1  # the retry used the instance made


LAMBDA_TIMEOUTS = [
    pytest.param("PollStatusFunction", "Sandbox.Timedout", True, "start", READY, id="poll-status-timed-out"),
    pytest.param("CheckHealthFunction", "Lambda.Unknown", True, "start", READY, id="check-health-timed-out"),
    pytest.param(
        "ResolveTargetFunction",
        "Lambda.ClientExecutionTimeoutException",
        True,
        "create",
        READY,
        id="resolve-client-timeout",
    ),
    pytest.param(
        "LaunchInstanceFunction",
        "Lambda.ClientExecutionTimeoutException",
        False,
        "start",
        READY,
        id="launch-client-timeout",
    ),
    # LaunchInstance is never run again after its own timeout (a create may have landed first).
    pytest.param(
        "LaunchInstanceFunction",
        "Sandbox.Timedout",
        False,
        "create",
        ("failed", "INTERNAL"),
        id="launch-timed-out",
    ),
]


@pytest.mark.parametrize(("function", "error_type", "after_handler", "kind", "outcome"), LAMBDA_TIMEOUTS)
def test_a_lambda_timing_out_once(
    world: World,
    simulator: Simulator,
    row: MatrixRow,
    function: str,
    error_type: str,
    after_handler: bool,
    kind: str,
    outcome: tuple[str, str | None],
):
    """A Lambda timing out once mid-workflow (Step Functions retry where the step is idempotent)"""
    how = "after its handler ran (its answer lost)" if after_handler else "before its handler ran"
    describe(row, f"`{error_type}` once from {function}, {how}", [outcome])
    world.engine.fail_next_invocation(function, error_type=error_type, after_handler=after_handler)

    request = start(world) if kind == "start" else create(world, f"timed-out-{function.lower()}")
    operations = run_operations(world, [request])

    check(world, row, operations, [outcome])
    calls = [
        c.error_type
        for c in world.engine.invocations(function)
        if c.event.get("operationId") == operations[0].operation_id
    ]
    retried = outcome == READY
    # Retried: the failed call, then a good one (poll and health steps run on after that).
    assert (calls[:2] if retried else calls) == ([error_type, None] if retried else [error_type]), calls
    if kind == "create":
        assert len(posts(simulator, "/gpu/instance/create")) == (1 if retried else 0)


# --- create by GPU type: the first offer sold out -----------------------------------------------------

US, EU = "cl-us-ca-1", "cl-eu-de-1"
GPU_FAILOVER_FAULTS = [
    pytest.param("drop", 3, id="sold-out-answer-lost"),
    pytest.param("launch-answer-lost", 2, id="launch-answer-lost"),
]


@pytest.mark.parametrize(("fault", "create_posts"), GPU_FAILOVER_FAULTS)
def test_a_create_by_gpu_type_falls_over_once_under_faults(
    world: World, simulator: Simulator, row: MatrixRow, fault: str, create_posts: int
):
    """Create by GPU type: the first offer sold out, and a fault on the way"""
    if fault == "drop":
        how = f"the sold-out `POST /gpu/instance/create` ({US}) connection dropped after Novita answered"
        simulator.admin.add_fault(
            kind="drop", method="POST", path="/gpu/instance/create", when="after", count=1
        )
    else:
        how = "`Lambda.ServiceException` once from LaunchInstanceFunction after its handler ran"
        world.engine.fail_next_invocation("LaunchInstanceFunction", after_handler=True)
    describe(row, f"{PRODUCT} sold out in {US}; {how}", [READY])
    simulator.admin.set_stock(PRODUCT, US, 0)
    name = f"gpu-{fault}"
    request = create_request(
        template_id=PRIVATE_TEMPLATE,
        name=name,
        gpu={"type": "RTX 4090", "regions": [US, EU]},
        webhook_url=world.hook(),
    )

    operations = run_operations(world, [request])

    check(world, row, operations, [READY])
    bodies = [e["body"] for e in simulator.admin.journal(path="/gpu/instance/create", method="POST")]
    # The sold-out offer (sent again only when its answer was lost and no instance had appeared), then
    # the next one, once; exactly one instance.
    assert [b["clusterId"] for b in bodies] == [US] * (create_posts - 1) + [EU], bodies
    (made,) = [i for i in simulator.admin.state()["instances"] if i["name"] == name]
    assert made["clusterId"] == EU
    assert (operations[0].record or {}).get("offer", {}).get("clusterId") == EU


# --- the same request twice --------------------------------------------------------------------------


def api_server(world: World) -> ApiServer:
    if world.api is None:
        world.api = ApiServer(world.engine, port=0, deliver_webhooks=False)
        world.api.start()
    return world.api


def execution_of(engine: LocalEngine, operation_id: str) -> list[str]:
    client = engine.boto_client("stepfunctions")
    machine = engine.resource_arn("StartInstanceStateMachine")
    executions = client.list_executions(stateMachineArn=machine)["executions"]
    return [e["executionArn"] for e in executions if e["name"] == operation_id]


def test_the_same_api_request_sent_twice_runs_once(world: World, simulator: Simulator, row: MatrixRow):
    """The same API request sent twice"""
    describe(row, "`POST /instances/dev-box/start` sent twice with one `Idempotency-Key`", [READY])
    server = api_server(world)
    body = {"webhook": {"url": world.hook()}}
    http = requests.Session()
    http.trust_env = False  # loopback only
    headers = {"Idempotency-Key": "reliability-twice-1"}

    answers = [
        http.post(f"{server.url}/instances/dev-box/start", json=body, headers=headers, timeout=30)
        for _ in range(2)
    ]

    for answer in answers:
        world.emitted.add("api responses", json.dumps(dict(answer.headers)) + answer.text)
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    first, second = (a.json()["operationId"] for a in answers)
    assert first == second
    [arn] = execution_of(world.engine, first)  # one execution for both requests
    operation = Operation(operation_id=first, request=start(world), execution_arn=arn)
    operations = finish(world, [operation])

    check(world, row, operations, [READY])
    assert len(posts(simulator, "/gpu/instance/start")) == 1


def test_two_starts_of_one_instance(world: World, simulator: Simulator, row: MatrixRow):
    """Two starts of one instance"""
    expected = [READY, ("failed", "INSTANCE_BUSY")]
    describe(row, "two operations start `dev-box` (by name and by ID) at once", expected)

    operations = run_operations(world, [start(world), start(world, "inst-dev-box")])

    # Either may win the lock: report the winner first.
    operations.sort(key=lambda op: (op.record or {}).get("status") != "ready")
    check(world, row, operations, expected)
    winner, refused = operations
    assert winner.operation_id in str((refused.record or {}).get("outcome"))
    assert len(posts(simulator, "/gpu/instance/start")) == 1


# --- the secret scan ---------------------------------------------------------------------------------

#: A create's env value: Novita gets it, the execution's input and history never do.
CREATE_ENV_VALUE = "env-value-hf-token-3Kp8"

SECRETS = {
    "Novita API key": TEST_API_KEY,
    "registry password": "fake-registry-pass-7Qx9",
    "SSH password": "ssh-pass-",
    "web-terminal password": "term-pass-",
    "webhook secret": SIGNING_SECRET,
    "webhook secret key": SIGNING_SECRET.removeprefix("whsec_"),
    "create env value": CREATE_ENV_VALUE,
}


# --- stop under faults ----------------------------------------------------------------------------


def stop(world: World, ref: str = "inference", **extra: Any) -> OperationRequest:
    return stop_request(ref, webhook_url=world.hook(), **extra)


def processed_stops(simulator: Simulator) -> int:
    """Stop POSTs Novita acted on (refusals and 5xx did nothing; a dropped answer was processed)."""
    return sum(1 for status in posts(simulator, "/gpu/instance/stop") if status is None or status == 200)


STOP_FAULTS = [
    pytest.param("error", "POST", "/gpu/instance/stop", id="stop-5xx"),
    pytest.param("drop", "POST", "/gpu/instance/stop", id="stop-answer-lost"),
    pytest.param("error", "GET", "/gpu/instance", id="poll-5xx"),
]


@pytest.mark.parametrize(("fault", "method", "path"), STOP_FAULTS)
def test_a_stop_under_a_novita_fault(
    world: World, simulator: Simulator, row: MatrixRow, fault: str, method: str, path: str
):
    """Stop under a Novita fault"""
    what = "3 x HTTP 503" if fault == "error" else "connection dropped after processing"
    describe(row, f"{what} on `{method} {path}` (stop of a running instance)", [STOPPED])
    if fault == "error":
        simulator.admin.add_fault(kind="error", method=method, path=path, status=503, count=3)
    else:
        simulator.admin.add_fault(kind="drop", method=method, path=path, when="after", count=1)

    operations = run_operations(world, [stop(world)])

    check(world, row, operations, [STOPPED])
    assert processed_stops(simulator) == 1  # no double stop


STOP_LAMBDA_FAULTS = [
    pytest.param("StopInstanceFunction", True, id="stop-instance-answer-lost"),
    pytest.param("StopInstanceFunction", False, id="stop-instance-before"),
    pytest.param("PollStoppedFunction", True, id="poll-stopped-answer-lost"),
    pytest.param("ResolveTargetFunction", True, id="resolve-answer-lost"),
]


@pytest.mark.parametrize(("function", "after_handler"), STOP_LAMBDA_FAULTS)
def test_a_stop_with_a_lambda_failing_once(
    world: World, simulator: Simulator, row: MatrixRow, function: str, after_handler: bool
):
    """A Lambda failing once mid-stop (Step Functions retry)"""
    how = "after its handler ran (its answer lost)" if after_handler else "before its handler ran"
    describe(row, f"`Lambda.ServiceException` once from {function}, {how} (stop)", [STOPPED])
    world.engine.fail_next_invocation(function, after_handler=after_handler)

    operations = run_operations(world, [stop(world)])

    check(world, row, operations, [STOPPED])
    calls = [
        c
        for c in world.engine.invocations(function)
        if c.event.get("operationId") == operations[0].operation_id
    ]
    assert [c.error_type for c in calls][:2] == ["Lambda.ServiceException", None]
    assert processed_stops(simulator) == 1  # the retried step found its own stop under way


def test_a_stop_and_a_start_of_one_instance_at_once(world: World, simulator: Simulator, row: MatrixRow):
    """A stop and a start of one instance at once"""
    expected = [STOPPED, ("failed", "INSTANCE_BUSY"), READY]
    describe(row, "a start of a running instance while its stop runs, then a start after it", expected)
    simulator.admin.set_config(stopping=300.0)

    stopping = start_operation(world.engine, stop(world))
    wait_until_locked(world, "inst-inference")
    refused = start_operation(world.engine, start(world, "inst-inference"))
    operations = finish(world, [stopping, refused])
    operations += run_operations(world, [start(world, "inst-inference")])  # the lock went with the stop

    check(world, row, operations, expected)
    assert stopping.operation_id in str((refused.record or {}).get("outcome"))
    assert processed_stops(simulator) == 1
    assert len(posts(simulator, "/gpu/instance/start")) == 1  # only the start after the stop


# --- auto-stop leases under faults -------------------------------------------------------------------


def wait_for_value(read: Callable[[], str | None], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while (value := read()) is None:
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.05)
    return value


def warnings(world: World, operation: Operation) -> set[str]:
    """The ids of the ``instance.autostop.pending`` warnings about the operation's lease, queued
    or already delivered to the receiver."""
    events = [n.event for n in queued_notifications(world.engine)]
    events += [json.loads(request.body) for request in world.receiver.requests()]
    return {
        str(event["id"])
        for event in events
        if event.get("type") == "instance.autostop.pending"
        and (event.get("data") or {}).get("operationId") == operation.operation_id
    }


LEASE_FAULTS = [
    pytest.param("lambda", id="watch-lease-answer-lost-at-the-claim"),
    pytest.param("stop-5xx", id="stop-post-5xx"),
    pytest.param("get-dropped", id="poll-get-dropped"),
]


@pytest.mark.parametrize("fault", LEASE_FAULTS)
def test_an_auto_stop_lease_under_a_fault(world: World, simulator: Simulator, row: MatrixRow, fault: str):
    """Auto-stop lease running out under a fault"""
    what = {
        "lambda": "`Lambda.ServiceException` from WatchLeaseFunction after its claim (the answer lost)",
        "stop-5xx": "3 x HTTP 503 on `POST /gpu/instance/stop` (the lease's stop)",
        "get-dropped": "`GET /gpu/instance` connection dropped during the lease's stop",
    }[fault]
    expected = [READY, STOPPED]
    describe(row, f"a 300 s lease runs out; {what}", expected)
    [started] = run_operations(world, [start(world, auto_stop={"afterSeconds": 300})])
    wait_for_value(lambda: "yes" if warnings(world, started) else None)  # at once: 300 s < 600 s
    if fault == "lambda":
        world.engine.fail_next_invocation("WatchLeaseFunction", after_handler=True)
    elif fault == "stop-5xx":
        simulator.admin.add_fault(kind="error", method="POST", path="/gpu/instance/stop", status=503, count=3)
    else:
        simulator.admin.add_fault(kind="drop", method="GET", path="/gpu/instance", when="before", count=1)

    stopped = finish(world, [lease_stop_operation(world.engine, started, timeout=OPERATION_TIMEOUT)])

    check(world, row, [started, *stopped], expected)
    assert processed_stops(simulator) == 1  # stopped exactly once
    assert len(warnings(world, started)) == 1  # warned once


def wait_until_locked(world: World, instance_id: str, timeout: float = 30.0) -> None:
    client = world.engine.boto_client("dynamodb")
    table = world.engine.resource_name("OperationsTable")
    deadline = time.monotonic() + timeout
    while "Item" not in client.get_item(TableName=table, Key=lock_key(instance_id), ConsistentRead=True):
        assert time.monotonic() < deadline, f"nothing locked {instance_id}"
        time.sleep(0.05)


def test_the_scan_finds_a_planted_secret():
    """The scan itself can fail: a secret anywhere in what was collected is reported with its source."""
    emitted = Emitted()
    emitted.add("logs", "ok")
    emitted.add("webhook requests", '{"password": "ssh-pass-inst-x"}')

    assert secret_findings(emitted, SECRETS) == ["SSH password in webhook requests"]


def test_nothing_the_service_emitted_holds_a_secret(
    world: World, simulator: Simulator, capfd: pytest.CaptureFixture[str]
):
    """Runs after the matrix (same module, same engine): scans logs, execution histories, queue
    messages, webhook bodies, DynamoDB items and API responses of every case, plus a private-image
    create with env values and the API's instance view (the places the secrets come closest to)."""
    operations = run_operations(
        world, [create(world, "scan-create", envs={"HF_TOKEN": CREATE_ENV_VALUE, "MODE": "serve"})]
    )
    assert operations[0].status == "ready", operations[0].summary()
    server = api_server(world)
    http = requests.Session()
    http.trust_env = False
    for path in (
        "/instances/dev-box",
        "/instances/inst-inference",
        f"/operations/{operations[0].operation_id}",
        "/health",
    ):
        answer = http.get(server.url + path, timeout=30)
        assert answer.status_code == 200, answer.text
        world.emitted.add("api responses", json.dumps(dict(answer.headers)) + answer.text)
    collect_emitted(world, capfd)

    collected = world.emitted.sources()
    for source in ("logs", "execution history", "queue messages", "webhook requests", "dynamodb items"):
        assert collected.get(source, 0) > 0, f"nothing collected from {source}: {collected}"
    assert collected.get("api responses", 0) > 0, collected
    assert "imageAuthId" in "".join(world.emitted.parts["execution history"])  # it sees the state
    history = "".join(world.emitted.parts["execution history"])
    assert "storedEnvs" in history and "HF_TOKEN" in history  # the names are there, the value is not
    (created,) = [
        c for c in simulator.admin.journal(path="/gpu/instance/create") if c["body"]["name"] == "scan-create"
    ]
    assert {"key": "HF_TOKEN", "value": CREATE_ENV_VALUE} in created["body"]["envs"]  # Novita got it
    assert secret_findings(world.emitted, SECRETS) == []
