"""Fixtures of the end-to-end tests: the REST API served on loopback over the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from novita_local.serve import ApiServer
from novita_local.simulator import Simulator
from tests.e2e.api_support import ServedApi
from tests.support.simulator import session_simulator
from tests.support.workflow import TIME_SCALE, clear_table, workflow_engine


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApi]:
    simulator = session_simulator()
    simulator.admin.reset()
    http = requests.Session()
    http.trust_env = False  # loopback only
    with workflow_engine(simulator) as engine, ApiServer(engine, port=0) as server:
        yield ServedApi(server.url, engine, simulator, http)


@pytest.fixture
def api(served: ServedApi, simulator: Simulator) -> ServedApi:
    """The module's server; the simulator reset to its default seed, the breaker, the limiter and the
    shared status snapshot cleared."""
    simulator.admin.set_config(time_scale=TIME_SCALE)
    clear_table(served.engine, "ResilienceTable")
    # No demand or listing left by an earlier test: a start then reads Novita itself.
    clear_table(served.engine, "StatusSnapshotTable")
    return served
