"""The workflow's steps called as their Lambdas call them: the state document in (through JSON, as
Step Functions passes it), the step with its collaborators, the result as it lands at its ResultPath.

A :class:`StepKit` holds the collaborators of one test (a real Novita client against the simulator,
the stores under test, a fake clock) and builds each step's deps from them, as the composition root
does from settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.outbound import system_resolver
from novita_orchestrator.settings import NovitaSettings
from novita_orchestrator.steps.check_health import CheckHealthDeps, check_health, http_get_status, tcp_connect
from novita_orchestrator.steps.finish_operation import FinishOperationDeps, finish_operation
from novita_orchestrator.steps.launch_instance import LaunchInstanceDeps, launch_instance
from novita_orchestrator.steps.poll_status import PollStatusDeps, poll_status
from novita_orchestrator.steps.poll_stopped import PollStoppedDeps, poll_stopped
from novita_orchestrator.steps.resolve_registry_auth import ResolveRegistryAuthDeps, resolve_registry_auth
from novita_orchestrator.steps.resolve_target import ResolveTargetDeps, resolve_target
from novita_orchestrator.steps.status_reader import SharedReadSettings, StatusReader
from novita_orchestrator.steps.stop_instance import StopInstanceDeps, stop_instance
from novita_orchestrator.store.env_values_store import EnvValuesStore
from novita_orchestrator.store.lock_store import LockStore
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.store.startup_stats_store import StartupStatsStore
from novita_orchestrator.store.status_snapshot_store import SnapshotStore
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from novita_orchestrator.workflow.errors import WorkflowError
from novita_orchestrator.workflow.polling import PollBounds
from novita_orchestrator.workflow.request import new_operation_id
from novita_orchestrator.workflow.state import FinishState, OperationState, StepState, StopState
from tests.support.clock import FakeClock
from tests.support.simulator import TEST_API_KEY, Simulator
from tests.support.store_fakes import InMemoryEnvValuesStore

Step = Callable[[dict[str, Any]], dict[str, Any]]

#: ``$.target`` as ResolveTarget leaves it for a start of the seeded ``dev-box``.
TARGET: dict[str, Any] = {
    "kind": "start",
    "instanceId": "inst-dev-box",
    "instanceName": "dev-box",
    "productId": "prod-1",
    "status": "exited",
    "alreadyRunning": False,
    "lockKey": "inst-dev-box",
    "deadline": 1_800_000_600.0,
    "startedAt": 1_800_000_000.0,
    "templateImageAuthId": None,
    "priorStatusError": None,
    "existingInstanceIds": None,
    "offers": None,
}

#: ``$.accepted`` as the API leaves it for a start of the seeded ``dev-box`` (read just now, by GET).
ACCEPTED: dict[str, Any] = {
    "instanceId": "inst-dev-box",
    "instanceName": "dev-box",
    "productId": "prod-rtx4090-24g",
    "status": "exited",
    "statusError": None,
    "statusFresh": True,
}


def novita_for(simulator: Simulator, clock: FakeClock) -> NovitaClient:
    session = requests.Session()
    session.trust_env = False  # loopback only
    settings = NovitaSettings(
        NOVITA_API_KEY=TEST_API_KEY, NOVITA_BASE_URL=simulator.base_url, NOVITA_RETRY_BASE_SECONDS=0
    )
    return NovitaClient(settings, session=session, clock=clock)


@dataclass
class StepKit:
    novita: NovitaClient
    operations: OperationsStore
    locks: LockStore
    stats: StartupStatsStore
    clock: FakeClock
    allow_private_targets: bool = True
    startup_timeout_seconds: float = 1800.0
    probe_timeout_seconds: float = 2.0
    #: The shared status snapshot; None (the default) = every status read is a GET.
    snapshots: SnapshotStore | None = None
    #: A create's env values, as the API stores them.
    env_values: EnvValuesStore = field(default_factory=InMemoryEnvValuesStore)

    @property
    def reader(self) -> StatusReader:
        settings = SharedReadSettings(max_age_seconds=2.0, list_threshold=0, page_size=50)
        return StatusReader(self.novita, self.snapshots, self.clock, settings)

    def resolve_target(self, event: dict[str, Any]) -> dict[str, Any]:
        deps = ResolveTargetDeps(
            novita=self.novita,
            reader=self.reader,
            operations=self.operations,
            locks=self.locks,
            clock=self.clock,
            url_policy=UrlPolicy(allow_private=self.allow_private_targets),
            startup_timeout_seconds=self.startup_timeout_seconds,
        )
        return resolve_target(OperationState.parse(event), deps).to_state()

    def resolve_registry_auth(self, event: dict[str, Any]) -> dict[str, Any]:
        return resolve_registry_auth(StepState.parse(event), ResolveRegistryAuthDeps(self.novita)).to_state()

    def launch_instance(self, event: dict[str, Any]) -> dict[str, Any]:
        deps = LaunchInstanceDeps(
            novita=self.novita, operations=self.operations, clock=self.clock, env_values=self.env_values
        )
        return launch_instance(StepState.parse(event), deps).to_state()

    def poll_status(self, event: dict[str, Any]) -> dict[str, Any]:
        deps = PollStatusDeps(
            reader=self.reader,
            operations=self.operations,
            stats=self.stats,
            clock=self.clock,
            bounds=PollBounds(5.0, 60.0),
            history_size=5,
        )
        return poll_status(StepState.parse(event), deps).to_state()

    def check_health(self, event: dict[str, Any]) -> dict[str, Any]:
        session = requests.Session()
        session.trust_env = False
        deps = CheckHealthDeps(
            novita=self.novita,
            operations=self.operations,
            clock=self.clock,
            http_get=http_get_status(session),
            connect=tcp_connect,
            resolve=system_resolver,
            probe_timeout_seconds=self.probe_timeout_seconds,
            interval_seconds=2.0,
            allow_private_targets=self.allow_private_targets,
        )
        return check_health(StepState.parse(event), deps).to_state()

    def stop_instance(self, event: dict[str, Any]) -> dict[str, Any]:
        deps = StopInstanceDeps(novita=self.novita, operations=self.operations, clock=self.clock)
        return stop_instance(StopState.parse(event), deps).to_state()

    def poll_stopped(self, event: dict[str, Any]) -> dict[str, Any]:
        deps = PollStoppedDeps(
            novita=self.novita, operations=self.operations, clock=self.clock, bounds=PollBounds(5.0, 60.0)
        )
        return poll_stopped(StopState.parse(event), deps).to_state()

    def finish_operation(self, event: dict[str, Any]) -> dict[str, Any]:
        deps = FinishOperationDeps(operations=self.operations, locks=self.locks, clock=self.clock)
        return finish_operation(FinishState.parse(event), deps).to_state()


class Run:
    """One operation driven step by step, the state document kept as the state machine keeps it."""

    def __init__(self, kit: StepKit, simulator: Simulator, request: dict[str, Any]) -> None:
        self.kit = kit
        self.simulator = simulator
        self.state: dict[str, Any] = {"operationId": new_operation_id(), "request": request}
        self.sent: list[dict[str, Any]] = []  # queue messages, in order

    @property
    def operation_id(self) -> str:
        return str(self.state["operationId"])

    def step(self, step: Step, result_path: str) -> dict[str, Any]:
        # Through JSON, as Step Functions passes it.
        result: dict[str, Any] = json.loads(json.dumps(step(json.loads(json.dumps(self.state)))))
        self.state[result_path] = result
        if result.get("notification"):
            self.sent.append(result["notification"])
        return result

    def advance(self, seconds: float) -> None:
        """Time passes for Novita and for the workflow alike."""
        self.simulator.admin.advance(seconds)
        self.kit.clock.advance(seconds)

    def fail(self, error: WorkflowError) -> dict[str, Any]:
        """What the Catch does: ``$.error`` from the Lambda's error, then FinishFailed."""
        cause = {"errorType": type(error).__name__, "errorMessage": str(error)}
        self.state["error"] = {"Error": type(error).__name__, "Cause": json.dumps(cause)}
        self.state["outcome"] = "failed"
        return self.step(self.kit.finish_operation, "finish")

    def types(self) -> list[str]:
        return [message["event"]["type"] for message in self.sent]
