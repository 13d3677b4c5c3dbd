"""cancel_operation: a running operation ends CANCELLED once, its lock freed, one terminal notification;
an ended one is left as it is."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from novita_orchestrator.steps.cancel_operation import CancelDeps, cancel_operation, lock_key_of
from novita_orchestrator.store.executions import execution_arn
from novita_orchestrator.store.operations_store import OperationNotFound
from tests.support.clock import FakeClock
from tests.support.store_fakes import InMemoryLockStore, InMemoryOperationsStore

OP = "op-" + "a" * 32


class Stopped:
    def __init__(self) -> None:
        self.stopped: list[str] = []
        self.kinds: list[str] = []

    def stop(self, operation_id: str, *, kind: str, cause: str) -> None:
        self.stopped.append(operation_id)
        self.kinds.append(kind)


class Sent:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, operation_id: str, message: dict[str, Any]) -> None:
        self.messages.append(message)


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.events.append((detail_type, detail))


def world(kind: str = "start") -> tuple[CancelDeps, Stopped, Sent]:
    clock = FakeClock()
    operations, locks = InMemoryOperationsStore(), InMemoryLockStore()
    target = "dev-box"
    operations.create(
        operation_id=OP,
        kind=kind,
        target=target,
        phase="resolving",
        now=clock.now(),
        webhook_url="https://h/x",
    )
    if kind in {"start", "stop"}:
        operations.set_instance(
            OP, instance_id="inst-1", instance_name=target, product_id="p", now=clock.now()
        )
        locks.acquire("inst-1", operation_id=OP, now=clock.now(), expires_at=clock.now() + 60)
    else:
        locks.acquire(f"name:{target}", operation_id=OP, now=clock.now(), expires_at=clock.now() + 60)
    stopped, sent = Stopped(), Sent()
    return CancelDeps(operations, locks, stopped, sent, Published(), clock), stopped, sent


@pytest.mark.parametrize(("kind", "lock"), [("start", "inst-1"), ("create", "name:dev-box")])
def test_a_running_operation_is_stopped_finished_unlocked_and_notified_once(kind: str, lock: str) -> None:
    deps, stopped, sent = world(kind)

    result = cancel_operation(OP, deps, reason="cancelled by a test")
    again = cancel_operation(OP, deps, reason="cancelled by a test")

    assert result.cancelled and not again.cancelled
    assert stopped.stopped == [OP]
    assert result.record.status == "failed"
    assert result.record.outcome is not None and result.record.outcome["code"] == "CANCELLED"
    assert lock_key_of(result.record) == lock
    assert deps.locks.holder(lock) is None
    [message] = sent.messages
    assert message["webhook"] == {"url": "https://h/x"}
    assert message["event"]["type"] == "instance.startup.failed"
    assert message["event"]["data"]["error"]["code"] == "CANCELLED"
    assert result.instance_left == ("inst-1" if kind == "start" else None)
    assert isinstance(deps.events, Published)
    [(detail_type, detail)] = deps.events.events
    assert (detail_type, detail["type"], detail["status"]) == (
        "InstanceStartFailed",
        "instance.startup.failed",
        "failed",
    )
    assert detail["eventId"] == message["event"]["id"] and detail["error"]["code"] == "CANCELLED"


def test_a_cancelled_stop_ends_as_a_stop_on_the_stop_workflow() -> None:
    deps, stopped, sent = world("stop")

    result = cancel_operation(OP, deps, reason="cancelled by a test")

    assert result.cancelled and stopped.kinds == ["stop"]
    assert deps.locks.holder("inst-1") is None
    [message] = sent.messages
    assert message["event"]["type"] == "instance.stop.failed"
    assert isinstance(deps.events, Published)
    assert [detail_type for detail_type, _ in deps.events.events] == ["InstanceStopFailed"]


class Watches:
    def __init__(self) -> None:
        self.unwatched: list[str] = []

    def unwatch(self, operation_id: str) -> None:
        self.unwatched.append(operation_id)


def test_a_cancelled_operation_no_longer_keeps_the_status_snapshot_listed() -> None:
    deps, _, _ = world()
    watches = Watches()

    cancel_operation(OP, replace(deps, watches=watches), reason="cancelled by a test")
    cancel_operation(OP, replace(deps, watches=watches), reason="cancelled by a test")  # ended: no-op

    assert watches.unwatched == [OP]


def test_an_unknown_operation_is_not_found() -> None:
    deps, _, _ = world()
    with pytest.raises(OperationNotFound):
        cancel_operation("op-" + "b" * 32, deps, reason="x")


def test_the_execution_arn_is_the_state_machines_with_the_operation_id() -> None:
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:Startup"
    assert execution_arn(arn, OP) == f"arn:aws:states:eu-west-1:123456789012:execution:Startup:{OP}"
