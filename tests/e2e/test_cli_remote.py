"""``status OP``, ``follow OP`` and ``cancel OP`` against a running ``serve``, each a separate process as a
user runs them (issue 15: 15)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from typing import IO, Any

import pytest
import requests

from novita_local.simulator import Simulator
from tests.e2e.test_cli import COMMAND, base_environment, cli, env, only_json  # noqa: F401 - `env` is a fixture
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(180)


@contextlib.contextmanager
def serving(environment: dict[str, str]) -> Iterator[tuple[str, IO[str]]]:
    """``novita-orchestrator serve`` on a free loopback port: its URL and its stderr (first line read)."""
    port = free_port()
    process = subprocess.Popen(
        [COMMAND, "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline().startswith(f"serving the API on http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}", process.stderr
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def serve(env: dict[str, str]) -> Iterator[str]:  # noqa: F811
    with serving(env) as (url, _):
        yield url


def start_through(api: str) -> requests.Response:
    http = requests.Session()
    http.trust_env = False
    return http.post(f"{api}/instances/dev-box/start", json={}, timeout=30)


def settled(api: str, op: str) -> dict[str, Any]:
    """The operation once it has left its first phases (resolving the target, taking the lock)."""
    deadline = time.monotonic() + 60
    while True:
        answer = requests.get(f"{api}/operations/{op}", timeout=30)
        body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        if body.get("phase") not in {None, "accepted", "resolving"}:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_follow_re_attaches_and_ends_with_the_ready_operation_then_status_shows_it(
    serve: str,
    env: dict[str, str],  # noqa: F811
) -> None:
    accepted = start_through(serve)
    assert accepted.status_code == 202
    op = accepted.json()["operationId"]

    followed = cli("follow", op, "--api", serve, "--json", env=env)
    shown = cli("status", op, "--api", serve, "--json", env=env)
    plain = cli("status", op, "--api", serve, env=env)

    assert followed.returncode == 0, followed.stderr
    assert only_json(followed.stdout)["status"] == "ready"
    assert "phase" in followed.stderr  # progress while following
    assert shown.returncode == 0
    assert only_json(shown.stdout)["notifications"][-1] == "instance.startup.completed"
    assert plain.stdout.startswith(f"{op}: start 'dev-box': ready")


def test_cancel_stops_driving_it_frees_the_instance_and_says_it_keeps_running(
    serve: str,
    env: dict[str, str],  # noqa: F811
    simulator: Simulator,
) -> None:
    simulator.admin.set_config(starting=100_000)  # stays `starting`
    op = start_through(serve).json()["operationId"]
    assert settled(serve, op)["phase"] == "starting"
    assert start_through(serve).status_code == 409  # the instance is driven by the first one

    cancelled = cli("cancel", op, "--api", serve, env=env)
    again = cli("cancel", op, "--api", serve, env=env)
    shown = cli("status", op, "--api", serve, "--json", env=env)

    assert cancelled.returncode == 0, cancelled.stderr
    assert "instance inst-dev-box (dev-box) was not stopped" in cancelled.stdout
    assert "novita-orchestrator stop inst-dev-box" in cancelled.stdout  # the command that stops it
    assert again.returncode == 0 and "had already ended" in again.stdout
    operation = only_json(shown.stdout)
    assert operation["status"] == "failed"
    assert operation["outcome"]["code"] == "CANCELLED"
    assert operation["notifications"][-1] == "instance.startup.failed"
    # Its lock was released: a new start drives the instance.
    assert settled(serve, start_through(serve).json()["operationId"])["phase"] == "starting"


def test_an_unknown_operation_says_where_operations_live(serve: str, env: dict[str, str]) -> None:  # noqa: F811
    result = cli("status", "op-" + "0" * 32, "--api", serve, env=env)

    assert result.returncode == 1
    assert "does not know" in result.stderr and "embedded stack" in result.stderr


def test_no_serve_running_says_so_and_a_malformed_id_is_bad_input() -> None:
    unreachable = cli(
        "follow", "op-" + "0" * 32, "--api", f"http://127.0.0.1:{free_port()}", env=base_environment()
    )
    malformed = cli("cancel", "op-123", env=base_environment())

    assert unreachable.returncode == 1
    assert "is `novita-orchestrator serve` running?" in unreachable.stderr
    assert malformed.returncode == 2 and "OP:" in malformed.stderr


@pytest.mark.parametrize("command", ["status", "follow", "cancel"])
def test_help_says_which_api_they_talk_to(command: str) -> None:
    result = cli(command, "--help", env=base_environment())

    assert result.returncode == 0
    assert "http://127.0.0.1:3000" in result.stdout and "novita-orchestrator serve" in result.stdout
    assert "exit status:" in result.stdout and "example:" in result.stdout
