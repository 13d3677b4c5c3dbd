"""The workflow's steps in the unit tier: the real steps and Novita client against the in-process
simulator, the stores as the in-memory fakes (contract-tested against DynamoDB Local in
tests/integration/test_workflow_stores.py), on a fake clock moved together with the simulator's."""

from __future__ import annotations

import json

import pytest

from novita_orchestrator.workflow.errors import InstanceBusy, InvalidRequest, StartupFailed, StopTimeout
from tests.support.clock import FakeClock
from tests.support.simulator import Simulator
from tests.support.steps import Run, StepKit, novita_for
from tests.support.store_fakes import InMemoryLockStore, InMemoryOperationsStore, InMemoryStartupStatsStore

FIRST_POLL = {"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}


@pytest.fixture
def kit(simulator: Simulator) -> StepKit:
    simulator.admin.set_config(time_scale=0)  # simulated time moves only with Run.advance
    clock = FakeClock()
    return StepKit(
        novita=novita_for(simulator, clock),
        operations=InMemoryOperationsStore(),
        locks=InMemoryLockStore(),
        stats=InMemoryStartupStatsStore(),
        clock=clock,
    )


def test_a_start_goes_from_resolve_to_ready_with_one_notification_per_phase(
    kit: StepKit, simulator: Simulator
) -> None:
    run = Run(
        kit, simulator, {"start": {"ref": "dev-box"}, "webhook": {"url": "https://hooks.example.com/n"}}
    )
    target = run.step(kit.resolve_target, "target")
    assert (target["instanceId"], target["lockKey"], target["alreadyRunning"]) == (
        "inst-dev-box",
        "inst-dev-box",
        False,
    )
    assert kit.locks.holder("inst-dev-box") == run.operation_id
    assert run.step(kit.launch_instance, "launch")["instanceId"] == "inst-dev-box"
    run.state["poll"] = FIRST_POLL
    # Right after the launch a read could only say "starting": the first poll waits, reading nothing.
    assert run.step(kit.poll_status, "poll")["polls"] == 0
    run.advance(5)
    assert run.step(kit.poll_status, "poll")["outcome"] == "waiting"
    run.advance(20)
    assert run.step(kit.poll_status, "poll")["outcome"] == "running"
    assert kit.stats.recent("prod-rtx4090-24g", 5) == [pytest.approx(25, abs=1)]
    assert run.step(kit.check_health, "health")["outcome"] == "waiting"  # the app warms up
    run.advance(12)
    assert run.step(kit.check_health, "health")["outcome"] == "healthy"
    run.state["outcome"] = "ready"
    finish = run.step(kit.finish_operation, "finish")

    assert run.types() == [
        "instance.startup.initiated",
        "instance.startup.progress",
        "instance.startup.health_check.started",
        "instance.startup.completed",
    ]
    assert finish["event"]["status"] == "ready"
    record = kit.operations.get(run.operation_id)
    assert record is not None and (record.status, record.polls, record.health_checks) == ("ready", 2, 2)
    assert kit.locks.holder("inst-dev-box") is None


def test_a_second_operation_is_refused_while_the_first_holds_the_instance(
    kit: StepKit, simulator: Simulator
) -> None:
    first = Run(kit, simulator, {"start": {"ref": "trainer"}})
    first.step(kit.resolve_target, "target")
    second = Run(kit, simulator, {"start": {"ref": "inst-trainer"}})
    with pytest.raises(InstanceBusy) as busy:
        second.step(kit.resolve_target, "target")
    assert busy.value.holder == first.operation_id
    assert second.fail(busy.value)["event"]["error"]["code"] == "INSTANCE_BUSY"
    assert kit.locks.holder("inst-trainer") == first.operation_id


def test_a_create_from_a_private_template_carries_only_the_auth_id(
    kit: StepKit, simulator: Simulator
) -> None:
    run = Run(
        kit,
        simulator,
        {"create": {"templateId": "tpl-private-app", "productId": "prod-rtx4090-24g", "name": "app-u"}},
    )
    assert run.step(kit.resolve_target, "target")["templateImageAuthId"] == "auth-team-registry"
    assert run.step(kit.resolve_registry_auth, "registryAuth") == {"imageAuthId": "auth-team-registry"}
    launch = run.step(kit.launch_instance, "launch")
    (created,) = simulator.admin.journal(path="/gpu/instance/create")
    assert created["body"]["imageAuthId"] == "auth-team-registry"
    assert "fake-registry-pass-7Qx9" not in json.dumps(run.state)
    assert run.step(kit.launch_instance, "launch")["instanceId"] == launch["instanceId"]  # never twice
    assert len(simulator.admin.journal(path="/gpu/instance/create")) == 1


def test_a_status_error_fails_the_poll_with_novitas_reason(kit: StepKit, simulator: Simulator) -> None:
    simulator.admin.add_fault(kind="status_error", instance_name="dev-box", message="GPU fell off the bus")
    run = Run(kit, simulator, {"start": {"ref": "dev-box"}})
    run.step(kit.resolve_target, "target")
    run.step(kit.launch_instance, "launch")
    run.state["poll"] = FIRST_POLL
    run.advance(25)
    with pytest.raises(StartupFailed, match="GPU fell off the bus") as failed:
        run.step(kit.poll_status, "poll")
    finish = run.fail(failed.value)
    assert finish["notification"]["event"]["type"] == "instance.startup.failed"
    assert kit.locks.holder("inst-dev-box") is None


# --- the stop workflow's steps ---------------------------------------------------------------------


def stop_posts(simulator: Simulator, action: str = "stop") -> int:
    return len(simulator.admin.journal(path=f"/gpu/instance/{action}", method="POST"))


def test_a_stop_goes_from_resolve_to_stopped_with_one_post(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"stop": {"ref": "inference"}})
    target = run.step(kit.resolve_target, "target")
    assert (target["kind"], target["lockKey"]) == ("stop", "inst-inference")
    assert kit.locks.holder("inst-inference") == run.operation_id
    assert run.step(kit.stop_instance, "action")["sent"] is True
    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0}
    waiting = run.step(kit.poll_stopped, "poll")
    assert (waiting["outcome"], waiting["delaySeconds"]) == ("waiting", 5)
    run.advance(5)
    assert run.step(kit.poll_stopped, "poll")["delaySeconds"] == 10  # the wait doubles
    run.advance(10)
    assert run.step(kit.poll_stopped, "poll")["outcome"] == "done"
    run.state["outcome"] = "done"
    finish = run.step(kit.finish_operation, "finish")

    assert run.types() == ["instance.stop.initiated", "instance.stop.completed"]
    assert (finish["detailType"], finish["event"]["status"]) == ("InstanceStopped", "stopped")
    record = kit.operations.get(run.operation_id)
    assert record is not None and (record.status, record.phase, record.polls) == ("stopped", "stopped", 3)
    assert kit.locks.holder("inst-inference") is None
    assert stop_posts(simulator) == 1


def test_a_retried_stop_step_sends_no_second_post(kit: StepKit, simulator: Simulator) -> None:
    run = Run(kit, simulator, {"stop": {"ref": "inference"}})
    run.step(kit.resolve_target, "target")
    first = run.step(kit.stop_instance, "action")
    again = run.step(kit.stop_instance, "action")  # the Lambda answered, but Step Functions retried

    assert (first["sent"], again["sent"]) == (True, False)  # it was already stopping
    assert stop_posts(simulator) == 1
    assert run.types() == ["instance.stop.initiated", "instance.stop.initiated"]  # same event id
    assert len({m["event"]["id"] for m in run.sent}) == 1


def test_a_stop_past_its_deadline_fails_with_stop_timeout(kit: StepKit, simulator: Simulator) -> None:
    simulator.admin.set_config(stopping=10_000)
    run = Run(kit, simulator, {"stop": {"ref": "inference"}, "timeoutSeconds": 30})
    run.step(kit.resolve_target, "target")
    run.step(kit.stop_instance, "action")
    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0}
    run.advance(31)
    with pytest.raises(StopTimeout) as late:
        run.step(kit.poll_stopped, "poll")
    assert "inst-inference" in late.value.message
    assert run.fail(late.value)["event"]["type"] == "instance.stop.failed"


def test_a_delete_needs_the_exact_name_and_waits_until_gone(kit: StepKit, simulator: Simulator) -> None:
    wrong = Run(kit, simulator, {"delete": {"ref": "inst-trainer", "confirm": "trainer "}})
    wrong.state["request"]["delete"]["confirm"] = "Trainer"
    with pytest.raises(InvalidRequest) as refused:
        wrong.step(kit.resolve_target, "target")
    assert "delete.confirm" in refused.value.message
    assert kit.locks.holder("inst-trainer") is None

    run = Run(kit, simulator, {"delete": {"ref": "inst-trainer", "confirm": "trainer"}})
    run.step(kit.resolve_target, "target")
    assert run.step(kit.stop_instance, "action")["sent"] is True
    run.state["poll"] = {"outcome": "waiting", "delaySeconds": 0, "polls": 0}
    assert run.step(kit.poll_stopped, "poll")["outcome"] == "waiting"
    run.advance(60)
    assert run.step(kit.poll_stopped, "poll")["outcome"] == "done"
    run.state["outcome"] = "done"
    finish = run.step(kit.finish_operation, "finish")

    assert run.types() == ["instance.delete.initiated", "instance.delete.completed"]
    assert (finish["detailType"], finish["event"]["status"]) == ("InstanceDeleted", "deleted")
    assert stop_posts(simulator, "delete") == 1
