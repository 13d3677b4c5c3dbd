"""``novita-orchestrator start --webhook-url`` as a user runs it: the command returns once the operation's
notifications are delivered (verified here with the standardwebhooks library) or dead-lettered."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from typing import Any

import pytest
from standardwebhooks import Webhook

from novita_local.cli import main
from tests.support.receiver import Receiver
from tests.support.simulator import TEST_API_KEY, Simulator

SECRET = "whsec_" + base64.b64encode(b"cli-end-to-end-secret-of-32bytes").decode()
TIME_SCALE = "30"


@pytest.fixture
def cli_environment(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    simulator.admin.set_config(time_scale=float(TIME_SCALE))
    for name, value in {
        "NOVITA_BASE_URL": simulator.base_url,
        "NOVITA_API_KEY": TEST_API_KEY,
        "TIME_SCALE": TIME_SCALE,
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",  # the receiver and the simulated apps are on loopback
        "WEBHOOK_SIGNING_SECRET": SECRET,
    }.items():
        monkeypatch.setenv(name, value)


def run_cli(argv: list[str]) -> tuple[int, dict[str, Any]]:
    """Run the command in this process; its exit code and the JSON object it printed last."""
    # Plain buffers that stay open: the functions' logger keeps the stream it was last given.
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, json.loads(out.getvalue().strip().splitlines()[-1])


def test_start_with_a_webhook_returns_after_every_notification_arrived_signed(cli_environment: None) -> None:
    with Receiver() as receiver:
        code, summary = run_cli(["start", "dev-box", "--webhook-url", receiver.url("/hooks"), "--json"])
        arrived = receiver.requests("/hooks")  # read at once: the command already waited
    assert code == 0
    assert summary["status"] == "ready"
    events = [Webhook(SECRET).verify(r.body, r.headers) for r in arrived]
    # A batch is delivered concurrently: arrival order is not guaranteed (receivers sort by timestamp).
    assert sorted(e["type"] for e in events) == sorted(summary["notifications"])
    assert len({e["id"] for e in events}) == len(events)
    assert summary["notifications"][-1] == "instance.startup.completed"
    assert summary["webhookDeliveries"] == {
        "delivered": len(summary["notifications"]),
        "deadLettered": 0,
        "pending": 0,
    }


def test_a_receiver_that_answers_410_gets_each_notification_once_and_they_are_dead_lettered(
    cli_environment: None,
) -> None:
    with Receiver(default=410) as receiver:
        code, summary = run_cli(["start", "dev-box", "--webhook-url", receiver.url("/gone"), "--json"])
        arrived = receiver.requests("/gone")
    assert code == 0  # the operation itself succeeded
    assert len(arrived) == len(summary["notifications"])  # no retries after a 410
    assert summary["webhookDeliveries"]["deadLettered"] == len(summary["notifications"])


def test_the_demo_verifies_every_signature_of_its_operations() -> None:
    code, summary = run_cli(["demo", "--json"])
    assert code == 0
    # The start, the create, and the stop the start's auto-stop lease started.
    assert [op["signaturesVerified"] for op in summary["operations"]] == [True, True, True]
