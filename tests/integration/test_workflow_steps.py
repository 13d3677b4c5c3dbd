"""The workflow's steps, called as the state machine calls them (the whole state document in, the
result stored at its ResultPath), against the Novita simulator and DynamoDB Local, without the state
machine. The simulator's clock is stopped (time scale 0) and moved by hand, together with the
workflow's fake clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

from novita_orchestrator.api.starter import WorkflowStarter
from novita_orchestrator.invocation import ANSWER_MARGIN_SECONDS, invocation_deadline
from novita_orchestrator.steps.check_health import RESERVED_AFTER_PROBES_SECONDS
from novita_orchestrator.store.lock_store import DynamoLockStore
from novita_orchestrator.store.operations_store import DynamoOperationsStore, OperationsStore
from novita_orchestrator.store.startup_stats_store import DynamoStartupStatsStore
from novita_orchestrator.workflow.errors import (
    AmbiguousInstanceName,
    AppNeverHealthy,
    HealthTargetRefused,
    InstanceBusy,
    InstanceNotFound,
    InvalidRequest,
    StartupFailed,
    StartupTimeout,
    TemplateNotFound,
    WorkflowError,
)
from novita_orchestrator.workflow.request import parse_request
from tests.support.clock import FakeClock
from tests.support.dynamodb_local import DynamoDBLocal, operations_of_instance
from tests.support.ports import free_port
from tests.support.simulator import Simulator
from tests.support.steps import ACCEPTED, Run, StepKit, novita_for

pytestmark = pytest.mark.integration

REGISTRY_PASSWORD = "fake-registry-pass-7Qx9"


@pytest.fixture
def table(dynamodb_local: DynamoDBLocal) -> str:
    # A fresh table per test: locks and stats of one test must not leak into the next.
    return dynamodb_local.create_table_from_template("OperationsTable")


@pytest.fixture
def make_kit(simulator: Simulator, dynamodb_local: DynamoDBLocal, table: str) -> Callable[..., StepKit]:
    simulator.admin.set_config(time_scale=0)

    def make(**overrides: Any) -> StepKit:
        clock = FakeClock()
        client = dynamodb_local.client()
        return StepKit(
            novita=novita_for(simulator, clock),
            operations=DynamoOperationsStore(client, table),
            locks=DynamoLockStore(client, table),
            stats=DynamoStartupStatsStore(client, table),
            clock=clock,
            **overrides,
        )

    return make


@pytest.fixture
def kit(make_kit: Callable[..., StepKit]) -> StepKit:
    return make_kit()


def _resolve_error(run: Run, expected: type[WorkflowError]) -> WorkflowError:
    with pytest.raises(expected) as raised:
        run.step(run.kit.resolve_target, "target")
    return raised.value


# --- resolving the target --------------------------------------------------------------------------


def test_resolve_by_id_records_the_operation_and_takes_the_lock(
    kit: StepKit, simulator: Simulator, dynamodb_local: DynamoDBLocal, table: str
) -> None:
    run = Run(kit, simulator, {"start": {"ref": "inst-dev-box"}, "timeoutSeconds": 600})
    target = run.step(run.kit.resolve_target, "target")
    assert target["instanceId"] == "inst-dev-box"
    assert target["instanceName"] == "dev-box"
    assert target["productId"] == "prod-rtx4090-24g"
    assert target["alreadyRunning"] is False
    assert target["lockKey"] == "inst-dev-box"
    assert target["deadline"] == pytest.approx(target["startedAt"] + 600)
    assert kit.locks.holder("inst-dev-box") == run.operation_id
    (operation,) = operations_of_instance(dynamodb_local.client(), table, "inst-dev-box")
    assert operation.operation_id == run.operation_id


def test_resolve_by_exact_name(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}})
    assert run.step(run.kit.resolve_target, "target")["instanceId"] == "inst-dev-box"
    run.step(run.kit.resolve_target, "target")  # a retried step keeps its own lock


def test_an_unknown_name_is_not_found(kit: StepKit, simulator: Simulator) -> None:
    error = _resolve_error(
        Run(kit, simulator, {"start": {"ref": "dev"}}), InstanceNotFound
    )  # fuzzy match only
    assert "'dev'" in str(error)


def test_an_ambiguous_name_lists_the_candidates(kit: StepKit, simulator: Simulator) -> None:
    error = _resolve_error(Run(kit, simulator, {"start": {"ref": "twin"}}), AmbiguousInstanceName)
    assert "inst-twin-a" in str(error) and "inst-twin-b" in str(error)


def test_a_second_operation_on_a_locked_instance_is_refused_with_the_holder(
    kit: StepKit, simulator: Simulator
) -> None:
    first = Run(kit, simulator, {"start": {"ref": "trainer"}})
    first.step(first.kit.resolve_target, "target")
    second = Run(kit, simulator, {"start": {"ref": "inst-trainer"}})
    error = _resolve_error(second, InstanceBusy)
    assert first.operation_id in str(error)

    finished = second.fail(error)
    assert finished["event"]["error"]["code"] == "INSTANCE_BUSY"
    assert kit.locks.holder("inst-trainer") == first.operation_id  # the loser released nothing


def test_create_from_an_unknown_template_fails(kit: StepKit, simulator: Simulator) -> None:
    run = Run(
        kit, simulator, {"create": {"templateId": "tpl-nope", "productId": "prod-rtx4090-24g", "name": "x"}}
    )
    _resolve_error(run, TemplateNotFound)


# --- start: launch, poll, health, finish -----------------------------------------------------------


def test_a_start_runs_to_ready_with_one_notification_per_phase(kit: StepKit, simulator: Simulator) -> None:
    run = Run(
        kit, simulator, {"start": {"ref": "dev-box"}, "webhook": {"url": "https://hooks.example.com/n"}}
    )
    run.step(run.kit.resolve_target, "target")
    launch = run.step(run.kit.launch_instance, "launch")
    assert launch["instanceId"] == "inst-dev-box"
    assert [r["method"] for r in simulator.admin.journal(path="/gpu/instance/start")] == ["POST"]

    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}
    reads = _instance_reads(simulator)
    # Right after the launch a read could only say "starting": the first poll waits the shortest wait.
    first = run.step(run.kit.poll_status, "poll")
    assert (first["outcome"], first["phase"], first["polls"], first["delaySeconds"]) == (
        "waiting",
        "starting",
        0,
        5,
    )
    assert _instance_reads(simulator) == reads
    run.advance(5)
    second = run.step(run.kit.poll_status, "poll")
    assert (second["outcome"], second["phase"], second["polls"]) == ("waiting", "starting", 1)
    assert second["notification"] is None  # launch already announced "starting"
    assert isinstance(second["delaySeconds"], int) and second["delaySeconds"] >= 5

    run.advance(5)
    assert run.step(run.kit.poll_status, "poll")["notification"] is None  # still starting
    run.advance(15)  # toStart 2 s + starting 20 s have passed
    running = run.step(run.kit.poll_status, "poll")
    assert (running["outcome"], running["phase"], running["polls"]) == ("running", "running", 3)
    assert running["instance"]["name"] == "dev-box"  # read by GET: the first health check's endpoints
    # The startup was measured for the product's adaptive polling.
    assert kit.stats.recent("prod-rtx4090-24g", 5)[0] == pytest.approx(25, abs=1)

    health = run.step(run.kit.check_health, "health")
    assert health["outcome"] == "waiting"  # the app warms up for 10 s after running
    assert health["delaySeconds"] == 2
    run.advance(5)
    again = run.step(run.kit.check_health, "health")
    assert again["notification"] is None and again["checks"] == 2
    run.advance(10)
    assert run.step(run.kit.check_health, "health")["outcome"] == "healthy"

    run.state["outcome"] = "ready"
    finish = run.step(run.kit.finish_operation, "finish")
    assert run.types() == [
        "instance.startup.initiated",
        "instance.startup.progress",
        "instance.startup.health_check.started",
        "instance.startup.completed",
    ]
    assert all(m["webhook"] == {"url": "https://hooks.example.com/n"} for m in run.sent)
    assert [m["event"]["data"]["phase"] for m in run.sent] == ["starting", "running", "health_check", "ready"]
    assert len({m["event"]["id"] for m in run.sent}) == 4
    assert finish["event"]["status"] == "ready" and finish["event"]["instanceId"] == "inst-dev-box"

    record = kit.operations.get(run.operation_id)
    assert record is not None
    assert (record.status, record.phase, record.polls, record.health_checks) == ("ready", "ready", 3, 3)
    assert list(record.phases) == ["resolving", "starting", "running", "health_check", "ready"]
    assert record.notifications == run.types()
    assert kit.locks.holder("inst-dev-box") is None


def _running(run: Run) -> None:
    """Resolve, launch and poll until the instance runs (its app then warms up for 10 s)."""
    run.step(run.kit.resolve_target, "target")
    run.step(run.kit.launch_instance, "launch")
    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}
    run.advance(25)
    assert run.step(run.kit.poll_status, "poll")["outcome"] == "running"


def _instance_reads(simulator: Simulator) -> int:
    return len(simulator.admin.journal(path="/gpu/instance", method="GET"))


def test_later_health_checks_probe_the_app_without_asking_novita(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}})
    _running(run)
    before = _instance_reads(simulator)
    first = run.step(run.kit.check_health, "health")
    assert first["outcome"] == "waiting"
    # Endpoints and "running" came from Novita once, with the poll that saw it running.
    assert _instance_reads(simulator) == before
    assert sorted(e["port"] for e in first["endpoints"]) == [22, 8888]
    assert first["instanceName"] == "dev-box"
    run.advance(2)
    assert run.step(run.kit.check_health, "health")["outcome"] == "waiting"  # 503: warming up
    run.advance(10)
    assert run.step(run.kit.check_health, "health")["outcome"] == "healthy"
    assert _instance_reads(simulator) == before
    # What the state document carries has no credentials.
    assert "password" not in json.dumps(run.state["health"]).lower()


def test_a_probe_that_cannot_connect_reads_the_instance_again(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}})
    _running(run)
    run.step(run.kit.check_health, "health")
    [app] = [e for e in run.state["health"]["endpoints"] if e["port"] == 8888]
    real_endpoint = app["endpoint"]
    app["endpoint"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    before = _instance_reads(simulator)
    run.advance(2)
    again = run.step(run.kit.check_health, "health")
    assert again["outcome"] == "waiting"
    assert _instance_reads(simulator) == before + 1  # still running, so keep waiting
    # The endpoints were refreshed from Novita.
    assert [e["endpoint"] for e in again["endpoints"] if e["port"] == 8888] == [real_endpoint]
    run.advance(10)
    assert run.step(run.kit.check_health, "health")["outcome"] == "healthy"
    assert _instance_reads(simulator) == before + 1


def test_slow_probes_end_within_the_invocation_and_the_operation_waits(
    kit: StepKit, simulator: Simulator
) -> None:
    # Two ports of an app that answers 200 only after 8 s, probed with a 60 s timeout each, in an
    # invocation with little time left: one after the other they would outlive the Lambda (its
    # timeout matches no retrier, so the operation would fail); at once and within the window they
    # end in time, and the operation waits for the next check instead.
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}, "healthCheck": {"timeoutSeconds": 60}})
    _running(run)
    with _slow_app(answer_after_seconds=8) as (url, asked):
        run.state["health"] = {
            "outcome": "waiting",
            "delaySeconds": 2,
            "checks": 1,
            "notification": None,
            "instanceName": "dev-box",
            "endpoints": [
                {"port": 8888, "type": "http", "endpoint": f"{url}/a"},
                {"port": 8889, "type": "http", "endpoint": f"{url}/b"},
            ],
        }
        probing_left = 1.5
        started = time.monotonic()
        with invocation_deadline(ANSWER_MARGIN_SECONDS + RESERVED_AFTER_PROBES_SECONDS + probing_left):
            checked = run.step(run.kit.check_health, "health")
        took = time.monotonic() - started
        assert checked["outcome"] == "waiting"
        # Both probes were sent (at once), and the step did not wait for either answer.
        assert sorted(asked) == ["/a/", "/b/"]
        assert took < ANSWER_MARGIN_SECONDS + RESERVED_AFTER_PROBES_SECONDS + probing_left
        assert took < 8


@contextmanager
def _slow_app(*, answer_after_seconds: float) -> Iterator[tuple[str, list[str]]]:
    """An HTTP app on loopback that answers every GET 200, late; yields its URL and the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            time.sleep(answer_after_seconds)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_an_instance_stopped_during_health_checks_fails_fast(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}, "timeoutSeconds": 600})
    _running(run)
    assert run.step(run.kit.check_health, "health")["outcome"] == "waiting"
    kit.novita.stop_instance("inst-dev-box")  # its app stops listening
    run.advance(2)
    with pytest.raises(StartupFailed, match="during health checks") as failed:
        run.step(run.kit.check_health, "health")
    finish = run.fail(failed.value)
    assert finish["event"]["error"]["code"] == "STARTUP_FAILED"


def test_a_retried_poll_resends_its_phase_change_with_the_same_id(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}})
    run.step(run.kit.resolve_target, "target")
    run.step(run.kit.launch_instance, "launch")
    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}
    run.advance(25)
    state_before = json.loads(json.dumps(run.state))
    first = run.step(run.kit.poll_status, "poll")
    run.state = state_before  # Step Functions retries the task with the same input
    retried = run.step(run.kit.poll_status, "poll")
    assert first["notification"]["event"]["id"] == retried["notification"]["event"]["id"]
    record = kit.operations.get(run.operation_id)
    assert record is not None
    assert record.notifications == ["instance.startup.initiated", "instance.startup.progress"]


def test_an_already_running_instance_skips_the_start(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"start": {"ref": "inference"}})
    assert run.step(run.kit.resolve_target, "target")["alreadyRunning"] is True
    launch = run.step(run.kit.launch_instance, "launch")
    assert launch["notification"]["event"]["data"]["phase"] == "running"
    assert simulator.admin.journal(path="/gpu/instance/start") == []
    assert run.step(run.kit.check_health, "health")["outcome"] == "healthy"


def test_status_error_fails_fast_with_novitas_reason(kit: StepKit, simulator: Simulator) -> None:
    simulator.admin.add_fault(kind="status_error", instance_name="dev-box", message="GPU fell off the bus")
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}})
    run.step(run.kit.resolve_target, "target")
    run.step(run.kit.launch_instance, "launch")
    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}
    run.advance(25)
    with pytest.raises(StartupFailed, match="GPU fell off the bus") as failed:
        run.step(run.kit.poll_status, "poll")
    finish = run.fail(failed.value)
    assert finish["notification"]["event"]["type"] == "instance.startup.failed"
    assert finish["event"]["error"]["code"] == "STARTUP_FAILED"
    assert "GPU fell off the bus" in finish["event"]["error"]["message"]
    assert kit.locks.holder("inst-dev-box") is None
    record = kit.operations.get(run.operation_id)
    assert record is not None and record.outcome == finish["event"]["error"]


def test_the_deadline_fails_a_startup_that_takes_too_long(kit: StepKit, simulator: Simulator) -> None:
    simulator.admin.set_config(starting=600)
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}, "timeoutSeconds": 60})
    run.step(run.kit.resolve_target, "target")
    run.step(run.kit.launch_instance, "launch")
    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}
    run.advance(30)
    waiting = run.step(run.kit.poll_status, "poll")
    assert waiting["delaySeconds"] <= 30  # never waits past the deadline
    run.advance(31)
    with pytest.raises(StartupTimeout):
        run.step(run.kit.poll_status, "poll")


def test_an_app_that_never_answers_fails_at_the_deadline(kit: StepKit, simulator: Simulator) -> None:
    simulator.admin.add_fault(kind="never_healthy", instance_id="inst-dev-box")
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}, "timeoutSeconds": 60})
    run.step(run.kit.resolve_target, "target")
    run.step(run.kit.launch_instance, "launch")
    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}
    run.advance(25)
    assert run.step(run.kit.poll_status, "poll")["outcome"] == "running"
    assert run.step(run.kit.check_health, "health")["outcome"] == "waiting"
    run.advance(40)
    with pytest.raises(AppNeverHealthy, match="HTTP 503"):
        run.step(run.kit.check_health, "health")


def test_probes_of_loopback_endpoints_are_refused_unless_allowed(
    make_kit: Callable[..., StepKit], simulator: Simulator
) -> None:
    run = Run(make_kit(allow_private_targets=False), simulator, {"start": {"ref": "inference"}})
    run.step(run.kit.resolve_target, "target")
    run.step(run.kit.launch_instance, "launch")
    with pytest.raises(HealthTargetRefused, match=r"127\.0\.0\.1"):
        run.step(run.kit.check_health, "health")


def test_a_requested_tcp_port_is_connected_to(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}, "healthCheck": {"port": 22}})
    run.step(run.kit.resolve_target, "target")
    run.step(run.kit.launch_instance, "launch")
    run.advance(25)  # running; the HTTP app on 8888 is still warming up, SSH accepts at once
    assert run.step(run.kit.check_health, "health")["outcome"] == "healthy"


# --- create from the private-image template --------------------------------------------------------


def test_create_from_the_private_template_sends_only_the_auth_id(kit: StepKit, simulator: Simulator) -> None:
    run = Run(
        kit,
        simulator,
        {"create": {"templateId": "tpl-private-app", "productId": "prod-rtx4090-24g", "name": "app-1"}},
    )
    target = run.step(run.kit.resolve_target, "target")
    assert (target["kind"], target["lockKey"], target["templateImageAuthId"]) == (
        "create",
        "name:app-1",
        "auth-team-registry",
    )
    assert run.step(run.kit.resolve_registry_auth, "registryAuth") == {"imageAuthId": "auth-team-registry"}
    launch = run.step(run.kit.launch_instance, "launch")
    assert launch["notification"]["event"]["data"]["phase"] == "creating"

    (created,) = simulator.admin.journal(path="/gpu/instance/create")
    assert created["body"]["imageAuthId"] == "auth-team-registry"
    assert created["body"]["imageUrl"] == "registry.example.com/team/app:1.0"
    assert "imageAuth" not in created["body"]

    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}
    run.advance(13)  # toCreate 2 + creating 10: pulling now
    assert run.step(run.kit.poll_status, "poll")["phase"] == "pulling"
    run.advance(31)
    assert run.step(run.kit.poll_status, "poll")["outcome"] == "running"
    run.advance(11)
    assert run.step(run.kit.check_health, "health")["outcome"] == "healthy"
    run.state["outcome"] = "ready"
    run.step(run.kit.finish_operation, "finish")
    assert run.types() == [
        "instance.startup.initiated",
        "instance.startup.progress",
        "instance.startup.progress",
        "instance.startup.health_check.started",
        "instance.startup.completed",
    ]
    assert REGISTRY_PASSWORD not in json.dumps(run.state)
    assert REGISTRY_PASSWORD not in json.dumps(run.sent)
    record = kit.operations.get(launch["instanceId"] and run.operation_id)
    assert record is not None and record.instance_id == launch["instanceId"]
    assert REGISTRY_PASSWORD not in json.dumps(record.to_json())


def test_a_retried_launch_does_not_create_a_second_instance(kit: StepKit, simulator: Simulator) -> None:
    run = Run(
        kit,
        simulator,
        {"create": {"templateId": "tpl-public-nginx", "productId": "prod-rtx4090-24g", "name": "web"}},
    )
    run.step(run.kit.resolve_target, "target")
    first = run.step(run.kit.launch_instance, "launch")
    again = run.step(run.kit.launch_instance, "launch")
    assert first["instanceId"] == again["instanceId"]
    assert len(simulator.admin.journal(path="/gpu/instance/create")) == 1


class _CrashBeforeRecording(Exception):
    """The Lambda dying between Novita's answer and the operation record's write."""


class _OperationsFailingOnce:
    """The real operations store, except that the first ``set_instance`` dies before writing."""

    def __init__(self, inner: OperationsStore) -> None:
        self._inner = inner
        self.crashed = False

    def set_instance(self, operation_id: str, **fields: Any) -> None:
        if not self.crashed:
            self.crashed = True
            raise _CrashBeforeRecording("the Lambda died before recording the instance")
        self._inner.set_instance(operation_id, **fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_launch_retried_after_creating_but_before_recording_finds_its_own_instance(
    make_kit: Callable[..., StepKit], simulator: Simulator
) -> None:
    """Step Functions retries LaunchInstance on Lambda.ServiceException: an attempt that created the
    instance and died before recording it must not make a second one on the retry."""
    kit = make_kit()
    failing = _OperationsFailingOnce(kit.operations)
    kit.operations = cast(OperationsStore, failing)
    run = Run(
        kit,
        simulator,
        {"create": {"templateId": "tpl-public-nginx", "productId": "prod-rtx4090-24g", "name": "twin"}},
    )
    target = run.step(run.kit.resolve_target, "target")
    assert target["existingInstanceIds"] == ["inst-twin-a", "inst-twin-b"]  # the seed's, not ours
    with pytest.raises(_CrashBeforeRecording):
        run.step(run.kit.launch_instance, "launch")
    assert failing.crashed
    again = run.step(run.kit.launch_instance, "launch")

    assert len(simulator.admin.journal(path="/gpu/instance/create")) == 1  # one POST in all
    assert again["instanceId"] not in {"inst-twin-a", "inst-twin-b"}
    record = kit.operations.get(run.operation_id)
    assert record is not None and record.instance_id == again["instanceId"]
    named = [i for i in simulator.admin.state()["instances"] if i["name"] == "twin"]
    assert len(named) == 3, named


def test_a_start_the_api_accepted_drives_the_instance_it_named_without_looking_it_up_again(
    kit: StepKit, simulator: Simulator
) -> None:
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}})
    run.state["accepted"] = ACCEPTED
    target = run.step(run.kit.resolve_target, "target")
    assert (target["instanceId"], target["productId"], target["alreadyRunning"]) == (
        "inst-dev-box",
        "prod-rtx4090-24g",
        False,
    )
    assert simulator.admin.journal() == []  # no Novita call: the API's answer named it

    # "running" decides that the start is skipped: that is read again, by GET.
    kit.locks.release("inst-dev-box", operation_id=run.operation_id)
    again = Run(kit, simulator, {"start": {"ref": "inst-dev-box"}})
    again.state["accepted"] = run.state["accepted"] | {"status": "running"}
    assert again.step(run.kit.resolve_target, "target")["alreadyRunning"] is False
    assert [e["path"] for e in simulator.admin.journal()] == ["/gpu/instance"]


# --- a create's env values: stored, never in the state ---------------------------------------------

ENV_SECRET = "hf-env-value-in-store-9Zq"


def _create_with_envs(kit: StepKit, simulator: Simulator, name: str) -> Run:
    """A create with envs, its input built as the API and the trigger build it."""
    request = parse_request(
        {
            "create": {
                "templateId": "tpl-public-nginx",
                "productId": "prod-rtx4090-24g",
                "name": name,
                "envs": {"HF_TOKEN": ENV_SECRET, "MODE": "serve"},
            }
        }
    )
    run = Run(kit, simulator, request.to_state())
    starter = WorkflowStarter(
        None, "unused", "unused", operations=kit.operations, env_values=kit.env_values, clock=kit.clock
    )
    run.state = starter.execution_input(request, run.operation_id)
    return run


def test_a_creates_env_values_reach_novita_from_the_store_and_never_the_state(
    kit: StepKit, simulator: Simulator
) -> None:
    run = _create_with_envs(kit, simulator, "envs-1")
    assert ENV_SECRET not in json.dumps(run.state)
    assert run.state["storedEnvs"] == {"names": ["HF_TOKEN", "MODE"]}

    run.step(run.kit.resolve_target, "target")
    launch = run.step(run.kit.launch_instance, "launch")

    (created,) = simulator.admin.journal(path="/gpu/instance/create")
    sent = {e["key"]: e["value"] for e in created["body"]["envs"]}
    assert (sent["HF_TOKEN"], sent["MODE"]) == (ENV_SECRET, "serve")
    # Novita has them: the stored item is gone, and a retried launch needs it no more.
    assert kit.env_values.get(run.operation_id) is None
    assert run.step(run.kit.launch_instance, "launch")["instanceId"] == launch["instanceId"]
    assert len(simulator.admin.journal(path="/gpu/instance/create")) == 1
    assert ENV_SECRET not in json.dumps(run.state) + json.dumps(run.sent)


def test_a_create_whose_env_values_are_gone_fails_naming_them(kit: StepKit, simulator: Simulator) -> None:
    run = _create_with_envs(kit, simulator, "envs-2")
    kit.env_values.delete(run.operation_id)  # expired
    run.step(run.kit.resolve_target, "target")
    with pytest.raises(InvalidRequest, match="HF_TOKEN, MODE"):
        run.step(run.kit.launch_instance, "launch")
    assert simulator.admin.journal(path="/gpu/instance/create") == []
