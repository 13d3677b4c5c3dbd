"""``novita-orchestrator serve`` as a user runs it, with a webhook receiver: the secret it signs with
(printed, or WEBHOOK_SIGNING_SECRET), one operation's notifications in the order they were sent, and
``dlq list`` / ``dlq redrive --api`` against serve's embedded stack."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from novita_local.simulator import Simulator
from novita_local.webhooks import new_signing_secret
from tests.e2e.api_support import serve_environment
from tests.support.ports import free_port
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.timeout(300), pytest.mark.integration]

COMMAND = str(Path(sys.executable).parent / "novita-orchestrator")
SECRET_SHAPE = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@dataclass
class RunningServe:
    url: str
    process: subprocess.Popen[str]
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)

    def start(self, ref: str, webhook_url: str) -> str:
        for _ in range(5):
            answer = requests.post(
                f"{self.url}/instances/{ref}/start", json={"webhook": {"url": webhook_url}}, timeout=30
            )
            if answer.status_code not in {429, 503}:
                break
            # Another operation's polls hold the deployment's Novita slots: retry as a client would.
            time.sleep(float(answer.headers.get("Retry-After", "1")))
        assert answer.status_code == 202, answer.text
        operation_id: str = answer.json()["operationId"]
        return operation_id

    def finished(self, operation_id: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            operation: dict[str, Any] = requests.get(
                f"{self.url}/operations/{operation_id}", timeout=30
            ).json()
            if operation["status"] != "running":
                return operation
            time.sleep(0.2)
        raise TimeoutError(operation_id)

    def dlq(self, action: str) -> dict[str, Any]:
        done = subprocess.run(
            [COMMAND, "dlq", action, "--api", self.url, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result


def _serve(simulator: Simulator, **extra: str) -> Iterator[RunningServe]:
    env = serve_environment(simulator, ALLOW_PRIVATE_NETWORK_TARGETS="true", **extra)
    port = free_port()
    process = subprocess.Popen(
        [COMMAND, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    served = RunningServe(f"http://127.0.0.1:{port}", process, env)
    assert process.stderr is not None
    served.lines += [process.stderr.readline(), process.stderr.readline()]
    stream = process.stderr
    # Keep reading: a full pipe would block serve.
    threading.Thread(target=lambda: served.lines.extend(stream), daemon=True).start()
    try:
        yield served
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def serve(simulator: Simulator) -> Iterator[RunningServe]:
    yield from _serve(simulator)


def _events(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    verifier = Webhook(secret)
    return [verifier.verify(r.body, r.headers) for r in receiver.requests()]


def _wait_for(receiver: Receiver, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.requests()) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def test_serve_prints_the_secret_it_signs_with_and_delivers_in_sending_order(serve: RunningServe):
    found = SECRET_SHAPE.search(serve.lines[1])
    assert found is not None, serve.lines
    with Receiver() as receiver:
        operation_ids = [serve.start(ref, receiver.url(f"/{ref}")) for ref in ("trainer", "inference")]
        operations = [serve.finished(op) for op in operation_ids]
        _wait_for(receiver, sum(len(op["notifications"]) for op in operations))

        events = _events(receiver, found.group(0))  # raises unless every signature verifies

    for operation in operations:
        assert operation["status"] == "ready", operation
        mine = [e["type"] for e in events if e["data"]["operationId"] == operation["operationId"]]
        # As the operation sent them (its record lists them in sending order).
        assert mine == operation["notifications"], (mine, operation["notifications"])
        assert mine[0] == "instance.startup.initiated" and mine[-1] == "instance.startup.completed"


def test_serve_signs_with_webhook_signing_secret_and_does_not_print_it(simulator: Simulator):
    secret = new_signing_secret()
    for serve in _serve(simulator, WEBHOOK_SIGNING_SECRET=secret):
        assert "WEBHOOK_SIGNING_SECRET" in serve.lines[1]
        with Receiver() as receiver:
            operation = serve.finished(serve.start("trainer", receiver.url()))
            _wait_for(receiver, len(operation["notifications"]))
            events = _events(receiver, secret)
        assert [e["type"] for e in events] == operation["notifications"]
        assert secret not in "".join(serve.lines)


def test_dlq_list_and_redrive_work_against_serves_embedded_stack(serve: RunningServe):
    assert serve.dlq("list") == {"deadLetters": []}
    with Receiver(default=410) as receiver:  # 410: permanent, parked at once
        operation = serve.finished(serve.start("trainer", receiver.url()))
        sent = len(operation["notifications"])
        deadline = time.monotonic() + 60
        while len(parked := serve.dlq("list")["deadLetters"]) < sent and time.monotonic() < deadline:
            time.sleep(0.5)
        assert {letter["operation_id"] for letter in parked} == {operation["operationId"]}
        assert {letter["failure_reason"] for letter in parked} == {"http_410"}
        assert len(parked) == sent

        receiver.default = receiver.default.__class__(200)
        redriven = serve.dlq("redrive")
        _wait_for(receiver, 2 * sent)

    assert redriven["moved"] in {sent, None}
    assert [r.answered for r in receiver.requests()][-sent:] == [200] * sent
    assert serve.dlq("list") == {"deadLetters": []}


def test_dlq_against_no_running_serve_says_so():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    nothing = subprocess.run(
        [COMMAND, "dlq", "list", "--api", url], capture_output=True, text=True, timeout=60
    )
    not_a_url = subprocess.run(
        [COMMAND, "dlq", "list", "--api", "localhost:3000"], capture_output=True, text=True, timeout=60
    )

    assert nothing.returncode == 1
    assert f"cannot reach serve at {url}" in nothing.stderr
    assert not_a_url.returncode == 2
    assert "--api" in not_a_url.stderr
