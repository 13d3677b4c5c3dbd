"""The Python client's pure parts: Retry-After, error bodies, tolerant results, auth configuration, and
that it imports nothing else of the layer (so it can be split out)."""

from __future__ import annotations

import ast
import sys
from email.utils import formatdate
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from requests.structures import CaseInsensitiveDict

import novita_orchestrator.client as client_package
from novita_orchestrator.client import (
    ApiError,
    ApiKey,
    ClientConfigurationError,
    Conflict,
    Instance,
    InvalidRequest,
    Lease,
    NotAuthorized,
    Operation,
    OrchestratorClient,
    RateLimited,
    ServiceError,
    SigV4,
    retry_after_seconds,
)
from novita_orchestrator.client.errors import error_from_answer

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        (formatdate(NOW + 30, usegmt=True), 30.0),
        ("-3", 0.0),
        (None, None),
        ("", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


def test_an_unreadable_retry_after_is_none() -> None:
    assert retry_after_seconds("soon", now=NOW) is None


def test_the_api_error_body_becomes_a_typed_error() -> None:
    body = '{"error": {"code": "INSTANCE_BUSY", "message": "busy", "operationId": "op-1"}}'
    busy = error_from_answer(409, CaseInsensitiveDict(), body, None)
    invalid = error_from_answer(
        422,
        CaseInsensitiveDict(),
        '{"error": {"code": "INVALID_REQUEST", "message": "m", "fields": ["gpuNum"]}}',
        None,
    )
    limited = error_from_answer(
        429,
        CaseInsensitiveDict(),
        '{"error": {"code": "RATE_LIMITED", "message": "m", "retryAfterSeconds": 4}}',
        None,
    )

    assert isinstance(busy, Conflict) and (busy.code, busy.operation_id) == ("INSTANCE_BUSY", "op-1")
    assert isinstance(invalid, InvalidRequest) and invalid.fields == ("gpuNum",)
    assert isinstance(limited, RateLimited) and limited.retry_after_seconds == 4.0


def test_api_gateways_own_answers_and_foreign_bodies_are_typed_too() -> None:
    gateway = error_from_answer(
        403,
        CaseInsensitiveDict({"x-amzn-ErrorType": "InvalidSignatureException:http://internal"}),
        '{"message": "The request signature we calculated does not match"}',
        None,
    )
    proxy = error_from_answer(504, CaseInsensitiveDict(), "<html>Gateway Timeout</html>", None)
    odd = error_from_answer(418, CaseInsensitiveDict(), "", None)

    assert isinstance(gateway, NotAuthorized) and gateway.code == "InvalidSignatureException"
    assert gateway.message.startswith("The request signature")
    assert isinstance(proxy, ServiceError) and proxy.code == "HTTP_504" and "Gateway Timeout" in proxy.message
    assert type(odd) is ApiError and odd.message == "HTTP 418"


def test_results_tolerate_new_and_missing_fields() -> None:
    operation = Operation.from_json(
        {"operationId": "op-1", "status": "ready", "phases": {"ready": "2026-01-02T03:04:05.678Z"}, "new": 1}
    )
    stopped = Operation.from_json({"operationId": "op-2", "kind": "stop", "status": "stopped"})

    assert operation.ready and operation.outcome is None and operation.notifications == ()
    assert operation.phases["ready"].year == 2026 and operation.raw["new"] == 1
    assert stopped.ready and stopped.finished and not stopped.failed  # a stop ends "stopped"


def test_an_instance_shows_its_lease_and_an_instance_without_one_shows_none() -> None:
    leased = Instance.from_json(
        {
            "instanceId": "inst-1",
            "autoStop": {
                "state": "active",
                "operationId": "op-1",
                "version": 2,
                "expiresAt": "2026-01-02T04:00:00.000Z",
                "warnAt": "2026-01-02T03:50:00.000Z",
                "idleSeconds": 3600,
                "lastHeartbeatAt": "2026-01-02T03:00:00.000Z",
                "future": True,
            },
        }
    )
    plain = Instance.from_json({"instanceId": "inst-2", "autoStop": None})

    lease = leased.auto_stop
    assert isinstance(lease, Lease) and lease.active and lease.version == 2
    assert lease.expires_at is not None and lease.last_heartbeat_at is not None
    assert (lease.expires_at - lease.last_heartbeat_at).total_seconds() == lease.idle_seconds == 3600.0
    assert (lease.stop_at, lease.stop_operation_id, lease.raw["future"]) == (None, None, True)
    assert plain.auto_stop is None


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({}, ("after_seconds", "idle_seconds", "cancel")),
        ({"cancel": True, "after_seconds": 600}, ("cancel", "after_seconds")),
    ],
)
def test_a_lease_change_that_says_nothing_clear_is_refused_before_any_request(
    change: dict[str, Any], names: tuple[str, ...]
) -> None:
    # Nothing listens on port 9: a request would raise TransportError instead.
    client = OrchestratorClient("http://127.0.0.1:9")

    with pytest.raises(ClientConfigurationError) as refused:
        client.change_lease("dev-box", **change)

    assert all(name in str(refused.value) for name in names)


def test_sigv4_takes_the_region_from_an_execute_api_url() -> None:
    assert SigV4().region_for("https://abc123.execute-api.eu-west-2.amazonaws.com/v1/health") == "eu-west-2"
    assert (
        SigV4(region="us-west-1").region_for("https://abc123.execute-api.eu-west-2.amazonaws.com")
        == "us-west-1"
    )


def test_sigv4_without_a_region_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    with pytest.raises(ClientConfigurationError, match="AWS_REGION"):
        SigV4(session=botocore.session.Session()).region_for("http://127.0.0.1:3000")


def test_a_bad_url_or_an_empty_key_is_refused_when_the_client_is_made() -> None:
    with pytest.raises(ClientConfigurationError, match="url"):
        OrchestratorClient("127.0.0.1:3000")
    with pytest.raises(ClientConfigurationError, match="empty"):
        ApiKey(" ")
    assert "secret" not in repr(ApiKey("secret"))


def test_the_client_imports_nothing_else_of_the_layer() -> None:
    package = Path(client_package.__file__).parent
    allowed_third_party = {"requests", "botocore", "standardwebhooks"}
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top == "novita_orchestrator":
                    assert name.startswith("novita_orchestrator.client"), f"{module.name} imports {name}"
                else:
                    assert (
                        top in sys.stdlib_module_names or top in allowed_third_party or top == "__future__"
                    ), f"{module.name} imports {name}"
