"""The real startup workflow (statemachine/start_instance.asl.json and the six functions, wired from
template.yaml) on the local engine, against the Novita simulator, on simulated time.

Each case asserts what a caller sees: the operation's outcome, the notifications on the webhook
queue (in order, exactly one terminal), and what Novita was asked.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest

from novita_local.engine import LocalEngine
from novita_local.operations import (
    Operation,
    create_request,
    follow,
    run_operation,
    start_operation,
    start_request,
)
from novita_local.simulator import Simulator
from novita_orchestrator.workflow.notifications import (
    COMPLETED,
    FAILED,
    HEALTH_CHECK_STARTED,
    INITIATED,
    PROGRESS,
)
from novita_orchestrator.workflow.request import OperationRequest
from tests.support.workflow import (
    SECRETS,
    assert_each_change_notified_once,
    assert_one_terminal,
    create_bodies,
    everything_said,
    reset_world,
)

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(120)]

# Real seconds one operation may take here (each needs well under 10).
OPERATION_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def fresh_world(engine: LocalEngine, simulator: Simulator) -> None:
    reset_world(engine, simulator)


@pytest.fixture
def handler_logs() -> Iterator[io.StringIO]:
    """Everything the functions log (DEBUG and up), as their Powertools logger writes it."""
    from novita_orchestrator.observability import logger

    handler = logger.registered_handler
    buffer = io.StringIO()
    previous_stream = handler.stream  # type: ignore[attr-defined]
    previous_level = logger.log_level
    handler.setStream(buffer)  # type: ignore[attr-defined]
    logger.setLevel("DEBUG")
    try:
        yield buffer
    finally:
        handler.setStream(previous_stream)  # type: ignore[attr-defined]
        logger.setLevel(previous_level)


def run(engine: LocalEngine, request: OperationRequest) -> Operation:
    return run_operation(engine, request, timeout=OPERATION_TIMEOUT)


def start_posts(simulator: Simulator) -> list[dict[str, object]]:
    return simulator.admin.journal(path="/gpu/instance/start", method="POST")


def assert_ready_sequence(operation: Operation) -> None:
    types = operation.notification_types()
    assert types[0] == INITIATED, types
    assert HEALTH_CHECK_STARTED in types, types
    assert types.index(HEALTH_CHECK_STARTED) < types.index(COMPLETED), types
    assert_one_terminal(types, COMPLETED)
    assert_each_change_notified_once(operation)
    assert operation.summary()["notifications"] == types  # the operation records what was sent


# --- starting an existing instance ---------------------------------------------------------------


def test_start_by_id_ends_ready_after_the_app_answers(engine: LocalEngine, simulator: Simulator):
    operation = run(engine, start_request("inst-dev-box"))

    summary = operation.summary()
    assert summary["status"] == "ready", summary
    assert summary["instanceId"] == "inst-dev-box"
    assert summary["kind"] == "start"
    assert_ready_sequence(operation)
    assert operation.notification_types() == [INITIATED, PROGRESS, HEALTH_CHECK_STARTED, COMPLETED]
    assert [n.data["phase"] for n in operation.notifications] == [
        "starting",
        "running",
        "health_check",
        "ready",
    ]
    assert list(summary["phases"])[-1] == "ready"
    assert {"starting", "running", "health_check", "ready"} <= set(summary["phases"])
    assert [entry["body"] for entry in start_posts(simulator)] == [{"instanceId": "inst-dev-box"}]
    assert engine.describe_execution(operation.execution_arn)["status"] == "SUCCEEDED"


def test_start_by_exact_name_finds_the_instance(engine: LocalEngine, simulator: Simulator):
    operation = run(engine, start_request("dev-box"))

    summary = operation.summary()
    assert summary["status"] == "ready", summary
    assert summary["instanceId"] == "inst-dev-box"
    assert summary["target"] == "dev-box"
    assert_ready_sequence(operation)
    assert len(start_posts(simulator)) == 1


def test_an_unknown_name_fails_without_touching_any_instance(engine: LocalEngine, simulator: Simulator):
    operation = run(engine, start_request("no-such-box"))

    summary = operation.summary()
    assert summary["status"] == "failed"
    assert summary["outcome"]["code"] == "INSTANCE_NOT_FOUND"
    assert "no-such-box" in summary["outcome"]["message"]
    assert operation.notification_types() == [FAILED]
    assert start_posts(simulator) == []
    assert engine.describe_execution(operation.execution_arn)["status"] == "FAILED"


def test_when_finishing_keeps_failing_the_fallback_still_sends_one_failed_notification(
    engine: LocalEngine, simulator: Simulator
):
    """FinishFailed fails on every attempt (5: one and its 4 retries): the fallback builds the failed
    notification itself, naming the operation by the execution's name (the input may lack it)."""
    attempts = 5
    for _ in range(attempts):
        engine.fail_next_invocation("FinishOperationFunction", error_type="RecordUnavailable")

    operation = run(engine, start_request("no-such-box", webhook_url="https://hooks.example.com/n"))

    finishes = [
        call.error_type
        for call in engine.invocations("FinishOperationFunction")
        if call.event.get("operationId") == operation.operation_id
    ]
    assert finishes == ["RecordUnavailable"] * attempts
    [notification] = operation.notifications
    assert notification.type == FAILED
    assert notification.webhook_url == "https://hooks.example.com/n"
    assert notification.event["id"] == f"evt_fallback_{operation.operation_id}_failed"
    assert notification.data["operationId"] == operation.operation_id
    assert notification.data["error"]["code"] == "INTERNAL"
    described = engine.describe_execution(operation.execution_arn)
    assert described["status"] == "FAILED"
    assert described.get("error") == "InstanceNotFound"  # the operation's own failure, not the record's


def test_an_ambiguous_name_fails_and_lists_the_candidates(engine: LocalEngine, simulator: Simulator):
    operation = run(engine, start_request("twin"))

    outcome = operation.summary()["outcome"]
    assert outcome["code"] == "AMBIGUOUS_INSTANCE_NAME"
    assert "inst-twin-a" in outcome["message"]
    assert "inst-twin-b" in outcome["message"]
    assert operation.notification_types() == [FAILED]
    assert start_posts(simulator) == []


def test_an_instance_already_running_goes_straight_to_health_checks(
    engine: LocalEngine, simulator: Simulator
):
    operation = run(engine, start_request("inference"))

    summary = operation.summary()
    assert summary["status"] == "ready", summary
    assert summary["instanceId"] == "inst-inference"
    types = operation.notification_types()
    assert types == [INITIATED, HEALTH_CHECK_STARTED, COMPLETED]  # no starting / running to report
    assert_one_terminal(types, COMPLETED)
    assert_each_change_notified_once(operation)
    assert start_posts(simulator) == []
    assert simulator.admin.journal(path="/gpu/instance", method="GET")  # still read once at least


# --- failures while starting ---------------------------------------------------------------------


def test_a_status_error_fails_fast_with_novitas_message(engine: LocalEngine, simulator: Simulator):
    simulator.admin.add_fault(kind="status_error", instance_name="dev-box", message="GPU fell off the bus")

    operation = run(engine, start_request("dev-box", timeout=3600))

    summary = operation.summary()
    assert summary["status"] == "failed"
    assert summary["outcome"]["code"] == "STARTUP_FAILED"
    assert "GPU fell off the bus" in summary["outcome"]["message"]
    types = operation.notification_types()
    assert types == [INITIATED, FAILED]
    assert operation.notifications[-1].data["error"]["code"] == "STARTUP_FAILED"
    assert_one_terminal(types, FAILED)
    assert_each_change_notified_once(operation)
    # Failing fast: long before the hour-long deadline, a handful of polls at most.
    assert len(simulator.admin.journal(path="/gpu/instance", method="GET")) <= 10


def test_a_startup_slower_than_the_timeout_fails_with_a_timeout(engine: LocalEngine, simulator: Simulator):
    simulator.admin.set_config(starting=100_000)  # the boot would take more than a simulated day

    operation = run(engine, start_request("dev-box", timeout=60))

    summary = operation.summary()
    assert summary["status"] == "failed"
    assert summary["outcome"]["code"] == "STARTUP_TIMEOUT"
    types = operation.notification_types()
    assert types == [INITIATED, FAILED]
    assert_one_terminal(types, FAILED)
    assert_each_change_notified_once(operation)


def test_an_app_that_never_answers_fails_after_health_checks(engine: LocalEngine, simulator: Simulator):
    simulator.admin.add_fault(kind="never_healthy", instance_id="inst-dev-box")

    # Long enough that the boot (22 simulated seconds) is over well before it, even on a loaded machine.
    operation = run(engine, start_request("dev-box", timeout=300))

    summary = operation.summary()
    assert summary["status"] == "failed"
    assert summary["outcome"]["code"] == "APP_NEVER_HEALTHY"
    assert summary["instanceId"] == "inst-dev-box"
    types = operation.notification_types()
    assert types == [INITIATED, PROGRESS, HEALTH_CHECK_STARTED, FAILED]
    assert summary["phases"].keys() >= {"starting", "running", "health_check", "failed"}
    assert_one_terminal(types, FAILED)
    assert_each_change_notified_once(operation)
    # The instance itself did start: the workflow never stops or deletes what it was asked to start.
    assert simulator.admin.journal(path="/gpu/instance/stop") == []


def test_a_novita_outage_while_polling_opens_the_breaker_and_fails_cleanly(
    engine: LocalEngine, simulator: Simulator
):
    simulator.admin.set_config(starting=600)  # still booting when Novita goes down
    operation = start_operation(engine, start_request("dev-box", timeout=3600))
    # The outage begins once the start was accepted.
    deadline = time.monotonic() + OPERATION_TIMEOUT
    while not start_posts(simulator):
        assert time.monotonic() < deadline, "the workflow never started the instance"
        time.sleep(0.01)
    simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instance", status=503, count=None)

    follow(engine, [operation], timeout=OPERATION_TIMEOUT)

    summary = operation.summary()
    assert summary["status"] == "failed"
    assert summary["outcome"]["code"] == "NOVITA_UNAVAILABLE"
    assert "breaker" in summary["outcome"]["message"].lower()
    types = operation.notification_types()
    assert types[0] == INITIATED
    assert_one_terminal(types, FAILED)
    assert_each_change_notified_once(operation)
    assert engine.describe_execution(operation.execution_arn)["status"] == "FAILED"
    # Once open, the breaker keeps the workflow from hammering the failing API.
    failed_reads = [e for e in simulator.admin.journal(path="/gpu/instance") if e["status"] == 503]
    assert 1 <= len(failed_reads) <= 12


# --- creating from a private-image template -----------------------------------------------------


def test_create_from_the_private_template_sends_only_the_auth_id_and_leaks_no_secret(
    engine: LocalEngine, simulator: Simulator, handler_logs: io.StringIO, capfd: pytest.CaptureFixture[str]
):
    # Pulling for five simulated minutes: the polls (at most a minute apart) see it however slowly a
    # loaded machine runs them (the default 30 s could fall between two polls).
    simulator.admin.set_config(pulling=300)
    operation = run(
        engine,
        create_request(
            template_id="tpl-private-app", product_id="prod-rtx4090-24g", name="app-one", envs={"MODE": "x"}
        ),
    )

    summary = operation.summary()
    assert summary["status"] == "ready", summary
    assert summary["kind"] == "create"
    assert summary["instanceId"]
    assert_ready_sequence(operation)
    assert [(n.type, n.data["phase"]) for n in operation.notifications] == [
        (INITIATED, "creating"),
        (PROGRESS, "pulling"),
        (PROGRESS, "running"),
        (HEALTH_CHECK_STARTED, "health_check"),
        (COMPLETED, "ready"),
    ]
    phases = list(summary["phases"])
    assert phases.index("creating") < phases.index("pulling") < phases.index("running")
    [body] = create_bodies(simulator)
    assert body["imageAuthId"] == "auth-team-registry"
    assert "imageAuth" not in body
    assert body["imageUrl"] == "registry.example.com/team/app:1.0"
    assert body["name"] == "app-one"
    assert body["productId"] == "prod-rtx4090-24g"
    captured = capfd.readouterr()
    said = everything_said(engine, [operation], handler_logs.getvalue() + captured.out + captured.err)
    assert "imageAuthId" in said  # the scan does see the workflow's state
    assert "operationId" in handler_logs.getvalue() or "correlation_id" in handler_logs.getvalue()
    for secret in SECRETS:
        assert secret not in said, f"{secret!r} leaked"


# --- one instance, two operations ---------------------------------------------------------------


def test_two_starts_of_one_instance_run_one_and_refuse_the_other(engine: LocalEngine, simulator: Simulator):
    first = start_operation(engine, start_request("dev-box"))
    second = start_operation(engine, start_request("inst-dev-box"))

    follow(engine, [first, second], timeout=OPERATION_TIMEOUT)

    by_status = {op.status: op for op in (first, second)}
    assert set(by_status) == {"ready", "failed"}, [op.summary() for op in (first, second)]
    winner, refused = by_status["ready"], by_status["failed"]
    outcome = refused.summary()["outcome"]
    assert outcome["code"] == "INSTANCE_BUSY"
    assert winner.operation_id in outcome["message"]
    assert_ready_sequence(winner)
    assert refused.notification_types() == [FAILED]
    assert len(start_posts(simulator)) == 1

    # The lock went with the winner's end: the next operation on the instance may run.
    again = run(engine, start_request("dev-box"))
    assert again.status == "ready", again.summary()


def test_operations_on_different_instances_run_side_by_side(engine: LocalEngine, simulator: Simulator):
    operations = [
        start_operation(engine, start_request("dev-box")),
        start_operation(engine, start_request("trainer")),
    ]

    follow(engine, operations, timeout=OPERATION_TIMEOUT)

    assert [op.status for op in operations] == ["ready", "ready"], [op.summary() for op in operations]
    for op in operations:
        assert_ready_sequence(op)
