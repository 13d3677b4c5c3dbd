"""Ctrl-C during ``start`` and webhooks delivered while the operation runs, as a user sees them: the
command in its own process, a signal, a loopback receiver verifying each webhook (issue 15: 11, 14)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from standardwebhooks import Webhook

from novita_local.simulator import Simulator
from tests.e2e.test_cli import COMMAND, base_environment, env, only_json  # noqa: F401 - `env` is a fixture
from tests.e2e.test_webhook_cli import SECRET
from tests.support.receiver import Receiver

pytestmark = pytest.mark.timeout(120)


def wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start_dev_box(environment: dict[str, str], receiver: Receiver) -> subprocess.Popen[str]:
    """``start dev-box --json`` with its webhooks to the receiver, signed with SECRET."""
    return subprocess.Popen(
        [COMMAND, "start", "dev-box", "--json", "--webhook-url", receiver.url("/hooks")],
        env={**environment, "WEBHOOK_SIGNING_SECRET": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_cancels_the_operation_says_what_is_left_and_notifies_once(
    env: dict[str, str],  # noqa: F811
    simulator: Simulator,
) -> None:
    simulator.admin.set_config(starting=100_000)  # the instance stays `starting` until the test ends
    with Receiver() as receiver:
        process = start_dev_box(env, receiver)
        try:
            # The first notification reaches the receiver while the operation still runs.
            wait_for(lambda: len(receiver.requests("/hooks")) >= 1)
            assert process.poll() is None
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
        arrived = [Webhook(SECRET).verify(r.body, r.headers) for r in receiver.requests("/hooks")]

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "inst-dev-box" in stderr and "was not stopped" in stderr
    assert "novita-orchestrator stop inst-dev-box" in stderr
    operation = only_json(stdout)
    assert operation["status"] == "failed"
    assert operation["outcome"]["code"] == "CANCELLED"
    # One terminal notification, the last one, delivered before the command returned.
    assert [e["type"] for e in arrived] == operation["notifications"]
    assert operation["notifications"][0] == "instance.startup.initiated"
    assert operation["notifications"][-1] == "instance.startup.failed"
    assert arrived[-1]["data"]["error"]["code"] == "CANCELLED"


def test_webhooks_arrive_while_the_operation_runs_in_the_order_they_were_sent(
    env: dict[str, str],  # noqa: F811
    simulator: Simulator,
) -> None:
    simulator.admin.set_config(starting=300)  # a few real seconds under the tests' time scale
    with Receiver() as receiver:
        process = start_dev_box(env, receiver)
        try:
            wait_for(lambda: len(receiver.requests("/hooks")) >= 1)
            early = process.poll() is None  # the command was still running when the first one arrived
            stdout, stderr = process.communicate(timeout=90)
        finally:
            process.kill()
        arrived = receiver.requests("/hooks")

    assert process.returncode == 0, stderr
    assert early
    operation = json.loads(stdout.strip().splitlines()[-1])
    types = [Webhook(SECRET).verify(r.body, r.headers)["type"] for r in arrived]
    assert types == operation["notifications"]  # the order they were sent in
    assert operation["webhookDeliveries"] == {"delivered": len(types), "deadLettered": 0, "pending": 0}


def test_ctrl_c_during_the_demo_ends_without_a_traceback() -> None:
    process = subprocess.Popen(
        [COMMAND, "demo"], env=base_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # the simulator and the engine are up
        assert "Novita simulator" in first
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "nothing is left running" in stderr
