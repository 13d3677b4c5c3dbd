"""The ``novita-orchestrator`` command as a user runs it: a separate process, exit codes, JSON on stdout,
progress on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from novita_local.simulator import Simulator
from novita_orchestrator.settings import setting_names
from tests.support.simulator import TEST_API_KEY
from tests.support.workflow import SECRETS, TIME_SCALE

pytestmark = pytest.mark.timeout(180)

COMMAND = str(Path(sys.executable).parent / "novita-orchestrator")
OPERATION_KEYS = {
    "operationId",
    "kind",
    "target",
    "instanceId",
    "status",
    "phase",
    "phases",
    "notifications",
    "outcome",
}


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def base_environment() -> dict[str, str]:
    # The user's shell minus anything that would configure the service differently.
    return {k: v for k, v in os.environ.items() if k not in setting_names()}


@pytest.fixture
def env(simulator: Simulator) -> dict[str, str]:
    simulator.admin.set_config(time_scale=TIME_SCALE)
    return {
        **base_environment(),
        "NOVITA_BASE_URL": simulator.base_url,
        "NOVITA_API_KEY": TEST_API_KEY,
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",
        "TIME_SCALE": str(TIME_SCALE),
        "STARTUP_TIMEOUT_SECONDS": "86400",  # see tests.support.workflow
    }


def only_json(stdout: str) -> dict[str, Any]:
    """stdout must be exactly one JSON object (nothing else on it)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def test_start_prints_the_ready_operation_as_json_and_exits_0(env: dict[str, str]):
    result = cli("start", "dev-box", "--json", env=env)

    assert result.returncode == 0, result.stderr
    operation = only_json(result.stdout)
    assert set(operation) == OPERATION_KEYS
    assert operation["status"] == "ready"
    assert operation["kind"] == "start"
    assert operation["target"] == "dev-box"
    assert operation["instanceId"] == "inst-dev-box"
    assert operation["notifications"][0] == "instance.startup.initiated"
    assert operation["notifications"][-1] == "instance.startup.completed"
    assert "ready" in operation["phases"]
    assert "instance.startup.health_check.started" in result.stderr  # progress went to stderr
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr


def test_start_of_an_unknown_instance_exits_1_with_the_reason(env: dict[str, str]):
    result = cli("start", "no-such-box", "--json", env=env)

    assert result.returncode == 1, result.stderr
    operation = only_json(result.stdout)
    assert operation["status"] == "failed"
    assert operation["outcome"]["code"] == "INSTANCE_NOT_FOUND"
    assert operation["notifications"] == ["instance.startup.failed"]


def test_create_by_gpu_type_exits_0_on_the_offer_with_capacity(env: dict[str, str], simulator: Simulator):
    simulator.admin.set_stock("prod-rtx4090-24g", "cl-us-ca-1", 0)
    flags = ["--gpu-type", "RTX 4090", "--region", "cl-us-ca-1", "--region", "cl-eu-de-1", "--gpus", "2"]
    result = cli("create", "--template", "tpl-public-nginx", "--name", "cli-gpu", *flags, "--json", env=env)

    assert result.returncode == 0, result.stderr
    operation = only_json(result.stdout)
    assert operation["status"] == "ready"
    assert operation["offer"]["clusterId"] == "cl-eu-de-1" and operation["offer"]["gpuNum"] == 2
    bodies = [e["body"] for e in simulator.admin.journal(path="/gpu/instance/create", method="POST")]
    assert [(b["clusterId"], b["gpuNum"]) for b in bodies] == [("cl-us-ca-1", 2), ("cl-eu-de-1", 2)]


def test_a_failover_flag_without_gpu_type_exits_2_naming_it(env: dict[str, str], simulator: Simulator):
    result = cli("create", "--template", "t", "--product", "p", "--name", "n", "--spot", env=env)

    assert result.returncode == 2
    assert "--spot: only with --gpu-type" in result.stderr
    assert not simulator.admin.journal(path="/gpu/instance/create")


def test_start_without_json_prints_a_readable_outcome(env: dict[str, str]):
    result = cli("start", "inference", env=env)

    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout
    assert "inst-inference" in result.stdout


def test_stop_ends_stopped_with_one_stop_and_exits_0(env: dict[str, str], simulator: Simulator):
    result = cli("stop", "inference", "--json", env=env)

    assert result.returncode == 0, result.stderr
    operation = only_json(result.stdout)
    assert (operation["kind"], operation["status"], operation["instanceId"]) == (
        "stop",
        "stopped",
        "inst-inference",
    )
    assert operation["notifications"] == ["instance.stop.initiated", "instance.stop.completed"]
    assert len(simulator.admin.journal(path="/gpu/instance/stop", method="POST")) == 1
    readable = cli("stop", "inference", env=env)  # exited by now: nothing is sent
    assert readable.returncode == 0, readable.stderr
    assert "stopped (instance inst-inference)" in readable.stdout
    assert len(simulator.admin.journal(path="/gpu/instance/stop", method="POST")) == 1


def test_delete_needs_confirm_repeating_the_name(env: dict[str, str], simulator: Simulator):
    unconfirmed = cli("delete", "trainer", env=env)
    wrong = cli("delete", "trainer", "--confirm", "dev-box", "--json", env=env)
    deleted = cli("delete", "trainer", "--confirm", "trainer", "--json", env=env)

    assert unconfirmed.returncode == 2 and "--confirm" in unconfirmed.stderr
    assert wrong.returncode == 1, wrong.stderr
    assert only_json(wrong.stdout)["outcome"]["code"] == "INVALID_REQUEST"
    assert deleted.returncode == 0, deleted.stderr
    assert only_json(deleted.stdout)["notifications"] == [
        "instance.delete.initiated",
        "instance.delete.completed",
    ]
    assert len(simulator.admin.journal(path="/gpu/instance/delete", method="POST")) == 1


def test_create_from_the_private_template_exits_0(env: dict[str, str], simulator: Simulator):
    result = cli(
        "create",
        "--template",
        "tpl-private-app",
        "--product",
        "prod-rtx4090-24g",
        "--name",
        "cli-app",
        "--env",
        "MODE=serve",
        "--json",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    operation = only_json(result.stdout)
    assert operation["kind"] == "create"
    assert operation["target"] == "cli-app"
    assert operation["status"] == "ready"
    [create] = simulator.admin.journal(path="/gpu/instance/create", method="POST")
    assert create["body"]["imageAuthId"] == "auth-team-registry"
    assert {"key": "MODE", "value": "serve"} in create["body"]["envs"]
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["create", "--template", "t", "--product", "p", "--name", "x", "--gpus", "99"], "--gpus"),
        (["create", "--template", "t", "--product", "p", "--name", "x", "--ports", "eighty"], "--ports"),
        (["create", "--template", "t", "--product", "p", "--name", "x", "--env", "NOEQUALS"], "--env"),
        (["start", "dev-box", "--webhook-url", "ftp://example.com/hook"], "--webhook-url"),
        (["start", "dev-box", "--health-path", "health"], "--health-path"),
        (["start", "dev-box", "--timeout", "1"], "--timeout"),
        (["start", "dev-box", "--webhook-url", "http://169.254.169.254/latest/meta-data/"], "--webhook-url"),
        (["start", "dev-box", "--health-port", "many"], "--health-port"),
    ],
)
def test_bad_input_exits_2_naming_the_field_before_anything_runs(
    env: dict[str, str], simulator: Simulator, args: list[str], named: str
):
    result = cli(*args, env=env)

    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert result.stdout == ""
    assert simulator.admin.journal() == []  # Novita was never called


def test_a_missing_api_key_is_bad_input(env: dict[str, str]):
    del env["NOVITA_API_KEY"]

    result = cli("start", "dev-box", "--json", env=env)

    assert result.returncode == 2
    assert "NOVITA_API_KEY" in result.stderr


def test_demo_json_ends_with_the_two_operations_and_the_stop_their_lease_started():
    result = cli("demo", "--json", env=base_environment(), timeout=120)

    assert result.returncode == 0, result.stderr
    summary = only_json(result.stdout)
    assert list(summary) == ["operations"]
    *operations, stop = summary["operations"]
    assert [op["kind"] for op in operations] == ["start", "create"]
    assert operations[0]["target"] == "dev-box"
    # The start's two-minute auto-stop lease ran out: warned, then stopped once.
    assert (stop["kind"], stop["target"], stop["status"]) == ("stop", "inst-dev-box", "stopped")
    assert stop["notifications"] == ["instance.stop.initiated", "instance.stop.completed"]
    assert stop["signaturesVerified"] is True
    assert "instance.autostop.pending delivered" in result.stderr
    for op in operations:
        # Later issues may add fields (e.g. signaturesVerified); these are the workflow's.
        assert {"operationId", "kind", "target", "status", "notifications"} <= set(op)
        assert op["status"] == "ready"
        assert op["notifications"][0] == "instance.startup.initiated"
        assert op["notifications"][-1] == "instance.startup.completed"
        assert op["notifications"].count("instance.startup.completed") == 1
    assert "Timeline" in result.stderr
    assert "fake-registry-pass-7Qx9" not in result.stdout + result.stderr


def test_demo_prints_the_timeline_on_stdout():
    result = cli("demo", env=base_environment(), timeout=120)

    assert result.returncode == 0, result.stderr
    assert "Timeline" in result.stdout
    assert "phase        ready" in result.stdout
    assert "notification instance.startup.completed" in result.stdout
