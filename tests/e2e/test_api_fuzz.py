"""Schemathesis against the served OpenAPI document: no server error, no response outside the schema.

Bounded: a fixed number of generated requests per operation (valid and invalid ones), no shrinking,
derandomized (the same examples on every run), so the run takes seconds and fails the same way twice.
Schemathesis' own pytest plugin does not run under our pytest, so its strategies are driven by
Hypothesis directly, one test per operation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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

from novita_local.serve import ApiServer
from novita_orchestrator.api.routes import build_app
from tests.support.simulator import session_simulator
from tests.support.workflow import TIME_SCALE, workflow_engine

pytestmark = [pytest.mark.timeout(600), pytest.mark.integration]

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
    document = json.loads(build_app(lambda: None).get_openapi_json_schema())  # type: ignore[arg-type,return-value]
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]


@pytest.fixture(scope="module")
def served_url() -> Iterator[str]:
    simulator = session_simulator()
    simulator.admin.reset()
    simulator.admin.set_config(time_scale=TIME_SCALE)
    # Generated webhook hosts are refused by the allow-list before any DNS lookup (loopback only).
    with (
        workflow_engine(simulator, WEBHOOK_ALLOWED_HOSTS="127.0.0.1") as engine,
        ApiServer(engine, port=0, deliver_webhooks=False) as server,
    ):
        yield server.url


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
