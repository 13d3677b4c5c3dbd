"""The REST API served on loopback by ``ApiServer`` over the embedded engine, against the simulator."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import requests

from novita_local.engine import LocalEngine
from novita_local.simulator import Simulator
from novita_orchestrator.settings import setting_names
from tests.support.simulator import TEST_API_KEY
from tests.support.workflow import TIME_SCALE

OPERATION_TIMEOUT = 120.0


@dataclass
class ServedApi:
    url: str
    engine: LocalEngine
    simulator: Simulator
    http: requests.Session

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self.url + path, timeout=30, **kwargs)

    def wait_until(
        self, operation_id: str, predicate: Any, timeout: float = OPERATION_TIMEOUT
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/operations/{operation_id}")
            if response.status_code == 200 and predicate(response.json()):
                body: dict[str, Any] = response.json()
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{operation_id}: last answer {response.status_code} {response.text}")
            time.sleep(0.1)

    def finished(self, operation_id: str) -> dict[str, Any]:
        return self.wait_until(operation_id, lambda op: op["status"] != "running")


def serve_environment(simulator: Simulator, **extra: str) -> dict[str, str]:
    """The environment of a ``novita-orchestrator serve`` process against the simulator (time-scaled
    like it; no setting leaks in from the test run's own environment)."""
    simulator.admin.set_config(time_scale=TIME_SCALE)
    env = {k: v for k, v in os.environ.items() if k not in setting_names()}
    return env | {
        "NOVITA_BASE_URL": simulator.base_url,
        "NOVITA_API_KEY": TEST_API_KEY,
        "TIME_SCALE": str(TIME_SCALE),
        **extra,
    }
