"""Schemathesis against the served OpenAPI document: no server error, no response outside the schema.

Bounded: a fixed number of generated requests per operation (valid and invalid ones), no shrinking,
derandomized (the same examples on every run), so the run takes seconds and fails the same way twice.
Schemathesis' own pytest plugin does not run under our pytest, so its strategies are driven by
Hypothesis directly, one test per operation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from novita_orchestrator.api.routes import app
from tests.support.ports import free_port, wait_for_port
from tests.support.simulator import TEST_API_KEY, session_simulator
from tests.support.workflow import TIME_SCALE

pytestmark = [pytest.mark.timeout(600), pytest.mark.integration]

COMMAND = str(Path(sys.executable).parent / "novita-orchestrator")
EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _operation_labels() -> list[str]:
    """``"POST /instances"`` etc., from the document the routes generate (no server needed)."""
    document = json.loads(app.get_openapi_json_schema())
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]


@pytest.fixture(scope="module")
def served_url() -> Iterator[str]:
    """``novita-orchestrator serve`` in its own process, as a user runs it.

    Not in this process: Hypothesis compiles code while it generates, and CPython 3.11's ``ast``
    is not safe across threads (the server's), which fails runs with "AST constructor recursion
    depth mismatch".
    """
    simulator = session_simulator()
    simulator.admin.reset()
    simulator.admin.set_config(time_scale=TIME_SCALE)
    port = free_port()
    environment = {
        **os.environ,
        "NOVITA_BASE_URL": simulator.base_url,
        "NOVITA_API_KEY": TEST_API_KEY,
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",
        "TIME_SCALE": str(TIME_SCALE),
        # Generated webhook hosts are refused by the allow-list before any DNS lookup (loopback only).
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }
    server = subprocess.Popen(
        [COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def api_schema(served_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{served_url}/openapi.json")


@pytest.mark.parametrize("label", _operation_labels())
def test_no_server_error_and_every_response_matches_the_schema(
    label: str, api_schema: schemathesis.BaseSchema, served_url: str
):
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )
    session = requests.Session()
    session.trust_env = False  # loopback only

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        phases=[Phase.explicit, Phase.generate],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(base_url=served_url, session=session, checks=CHECKS)

    call()
