"""A misconfigured API over real HTTP: each request gets the JSON 500 naming the setting.

The function's init must not crash on a bad setting: API Gateway answers a bare 502 (no JSON, no
name) for a function that failed to start.
"""

from __future__ import annotations

import pytest
import requests

from novita_local.serve import ApiServer
from novita_local.simulator import Simulator
from tests.support.workflow import workflow_engine

pytestmark = [pytest.mark.timeout(300), pytest.mark.integration]


def test_a_misconfigured_api_answers_json_500_naming_the_setting_not_502(simulator: Simulator) -> None:
    # The variable is bad for the API function only (the workflow's functions do not read it).
    with (
        workflow_engine(simulator, API_MAX_BODY_BYTES="lots") as engine,
        ApiServer(engine, port=0, deliver_webhooks=False) as server,
    ):
        health = requests.get(f"{server.url}/health", timeout=30)
        start = requests.post(f"{server.url}/instances/dev-box/start", json={}, timeout=30)

    for response in (health, start):
        assert response.status_code == 500, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        error = response.json()["error"]
        assert error["code"] == "CONFIGURATION_ERROR"
        assert "API_MAX_BODY_BYTES" in error["message"]
    assert simulator.admin.journal(path="/gpu/instance/start") == []
