"""An unreachable Novita (nothing listens, the name does not resolve) is reported as what it is.

The workflow retries and the circuit breaker opens; the outcome a user reads still leads with
"cannot reach NOVITA_BASE_URL (...): connection refused", and the API's 503 says the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from novita_local.engine import LocalEngine
from novita_local.operations import run_operation, start_request
from novita_local.serve import ApiServer
from tests.support.ports import free_port
from tests.support.simulator import session_simulator
from tests.support.workflow import workflow_engine

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def closed_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


@pytest.fixture(scope="module")
def unreachable(closed_port: int) -> Iterator[LocalEngine]:
    simulator = session_simulator()  # only for the engine's other settings: Novita is the closed port
    with workflow_engine(
        simulator, NOVITA_BASE_URL=f"http://127.0.0.1:{closed_port}/gpu-instance/openapi"
    ) as engine:
        yield engine


def test_a_start_against_a_closed_port_says_connection_refused(unreachable: LocalEngine, closed_port: int):
    operation = run_operation(unreachable, start_request("dev-box"), timeout=120)

    outcome = operation.summary()["outcome"]
    assert operation.summary()["status"] == "failed"
    assert outcome["code"] == "NOVITA_UNAVAILABLE"
    expected = f"cannot reach NOVITA_BASE_URL (http://127.0.0.1:{closed_port}): connection refused"
    assert expected in outcome["message"], outcome
    assert "HTTPConnectionPool" not in outcome["message"]


def test_the_api_answers_503_saying_novita_cannot_be_reached(unreachable: LocalEngine, closed_port: int):
    with ApiServer(unreachable, port=0, deliver_webhooks=False) as server:
        answer = requests.post(server.url + "/instances/dev-box/start", json={}, timeout=60)

    assert answer.status_code == 503, answer.text
    message = answer.json()["error"]["message"]
    assert f"cannot reach NOVITA_BASE_URL (http://127.0.0.1:{closed_port}): connection refused" in message
