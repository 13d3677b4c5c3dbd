"""No secret from Novita (or the API key) reaches logs, exceptions or the models callers get."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NovitaError
from novita_orchestrator.novita.models import CreateInstanceRequest
from novita_orchestrator.observability import logger
from novita_orchestrator.settings import NovitaSettings
from tests.support.simulator import Simulator

pytestmark = pytest.mark.integration


class Captured(logging.Handler):
    """Every record the service logger emits, rendered with all its extra fields."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.dumps(record.__dict__, default=repr))


@pytest.fixture
def captured_logs() -> Iterator[Captured]:
    handler = Captured()
    underlying = logging.getLogger(logger.name)
    underlying.addHandler(handler)
    previous = underlying.level
    underlying.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        underlying.setLevel(previous)
        underlying.removeHandler(handler)


def seed_secrets(sim: Simulator) -> list[str]:
    """Every password and token the simulator's seed holds, plus the API key."""
    state = sim.admin.state()
    assert sim.api_key is not None
    secrets: list[str] = [sim.api_key]
    secrets += [a["password"] for a in state["registryAuths"]]
    for instance in state["instances"]:
        secrets.append(instance["connectComponentSSH"]["password"])
        secrets.append(instance["connectComponentWebTerminal"]["password"])
        secrets += [e["value"] for e in instance["envs"] if "TOKEN" in e["key"]]
    assert all(secrets) and len(secrets) >= 12  # the test would prove nothing without them
    return secrets


def client_for(sim: Simulator, **overrides: Any) -> NovitaClient:
    session = requests.Session()
    session.trust_env = False
    values: dict[str, Any] = {
        "NOVITA_API_KEY": sim.api_key,
        "NOVITA_BASE_URL": sim.base_url,
        "NOVITA_RETRY_BASE_SECONDS": 0.01,
        "NOVITA_RETRY_MAX_SECONDS": 0.05,
        **overrides,
    }
    settings = NovitaSettings(**values)
    return NovitaClient(settings, session=session)


def test_secrets_stay_out_of_logs_errors_and_results(simulator: Simulator, captured_logs: Captured) -> None:
    sim = simulator
    secrets = seed_secrets(sim)
    client = client_for(sim)
    seen: list[str] = []

    # Results handed to callers.
    for instance_id in ("inst-dev-box", "inst-inference"):
        instance = client.get_instance(instance_id)
        seen += [
            repr(instance),
            json.dumps(instance.model_dump(mode="json")),
            instance.model_dump_json(by_alias=True),
        ]
    for item in [*client.list_instances(), *client.list_registry_auths(), *client.list_templates()]:
        seen += [repr(item), item.model_dump_json(), item.model_dump_json(by_alias=True)]

    # Failures, retried ones included, with Novita echoing a secret back in its message.
    sim.admin.add_fault(
        kind="error",
        method="GET",
        path="/gpu/instance",
        status=503,
        message=f"backend choked on password {secrets[1]} for key {sim.api_key}",
        count=None,
    )
    sim.admin.add_fault(kind="drop", method="POST", path="/gpu/instance/start", when="before", count=None)
    sim.admin.add_fault(
        kind="error",
        method="POST",
        path="/gpu/instance/create",
        status=400,
        reason="VALIDATOR_PARAM",
        message="bad envs value hf_create_secret_123",
    )
    failing_calls: list[Callable[[], object]] = [
        lambda: client.get_instance("inst-dev-box"),
        lambda: client.start_instance("inst-trainer"),
        lambda: client.create_instance(
            CreateInstanceRequest(
                name="x",
                product_id="prod-rtx4090-24g",
                image_url="nginx:1.27",
                envs={"HF_TOKEN": "hf_create_secret_123"},
            )
        ),
        lambda: client_for(sim, NOVITA_API_KEY="sk_wrong_key_for_redaction").list_instances(),
    ]
    for call in failing_calls:
        with pytest.raises(NovitaError) as raised:
            call()
        seen += [str(raised.value), repr(raised.value), repr(raised.value.args)]

    everything = "\n".join(seen + captured_logs.lines)
    assert captured_logs.lines, "the retries above should have been logged"
    for secret in [*secrets, "hf_create_secret_123", "sk_wrong_key_for_redaction"]:
        assert secret not in everything, f"a secret leaked: {secret[:3]}..."
    assert "***" in everything  # the echoed password was masked, not silently dropped
