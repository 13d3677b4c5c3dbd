"""Health verdicts and the outbound guard for probes (LESSONS 14 and 3)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from novita_orchestrator.novita.models import Instance
from novita_orchestrator.outbound import system_resolver
from novita_orchestrator.steps.check_health import http_get_status
from novita_orchestrator.workflow.health import (
    NoAnswer,
    Probe,
    UnsafeTarget,
    check_target_allowed,
    is_public_address,
    judge_health,
    probes_for,
    probes_for_mappings,
)
from novita_orchestrator.workflow.state import HealthResult

PUBLIC = "93.184.215.14"  # a public address, returned by a fake resolver (no DNS, no traffic)


class FakeHttp:
    def __init__(self, status: int | Exception) -> None:
        self.status = status
        self.calls: list[tuple[str, float]] = []

    def __call__(self, url: str, timeout: float) -> int:
        self.calls.append((url, timeout))
        if isinstance(self.status, Exception):
            raise self.status
        return self.status


class FakeTcp:
    def __init__(self, fails: bool = False) -> None:
        self.fails = fails
        self.calls: list[tuple[str, int, float]] = []

    def __call__(self, host: str, port: int, timeout: float) -> None:
        self.calls.append((host, port, timeout))
        if self.fails:
            raise ConnectionRefusedError("refused")


def public_resolver(host: str, port: int) -> list[str]:
    return [PUBLIC]


def _instance(*mappings: dict[str, Any]) -> Instance:
    return Instance.model_validate({"id": "inst-1", "status": "running", "portMappings": list(mappings)})


APP = {"port": 8000, "type": "http", "endpoint": "inst-1-8000.us-ca-6.gpu-instance.novita.ai"}
SSH = {"port": 22, "type": "tcp", "endpoint": "proxy.us-ca-6.gpu-instance.novita.ai:32787"}


def _judge(instance: Instance, http: FakeHttp, tcp: FakeTcp | None = None, **kwargs):
    port = kwargs.pop("port", None)
    path = kwargs.pop("path", "/")
    return judge_health(
        probes_for(instance, port=port, path=path),
        timeout=2.5,
        allow_private=False,
        http_get=http,
        connect=tcp or FakeTcp(),
        resolve=public_resolver,
        requested_port=port,
    )


@pytest.mark.parametrize(
    ("status", "healthy"), [(200, True), (204, True), (301, False), (302, False), (503, False)]
)
def test_only_2xx_is_healthy(status: int, healthy: bool) -> None:
    http = FakeHttp(status)
    verdict = _judge(_instance(APP, SSH), http)
    assert verdict.healthy is healthy
    # The endpoint has no scheme: https is assumed; the per-probe timeout is passed through.
    assert http.calls == [("https://inst-1-8000.us-ca-6.gpu-instance.novita.ai/", 2.5)]


def test_no_answer_is_not_healthy() -> None:
    verdict = _judge(_instance(APP), FakeHttp(NoAnswer("ConnectTimeout")))
    assert not verdict.healthy
    assert "ConnectTimeout" in verdict.summary()


@pytest.mark.parametrize(
    "failure",
    [NoAnswer("ConnectionError"), NoAnswer("ConnectTimeout"), NoAnswer("ReadTimeout")],
)
def test_a_probe_without_any_answer_is_unreachable(failure: Exception) -> None:
    assert _judge(_instance(APP), FakeHttp(failure)).unreachable


def test_an_http_error_answer_shows_the_container_is_up() -> None:
    verdict = _judge(_instance(APP), FakeHttp(503))
    assert not verdict.healthy and not verdict.unreachable


def test_a_refused_tcp_connect_is_unreachable() -> None:
    assert _judge(_instance(APP, SSH), FakeHttp(200), FakeTcp(fails=True), port=22).unreachable
    assert not _judge(_instance(APP, SSH), FakeHttp(200), FakeTcp(), port=22).unreachable


def test_probes_from_carried_mappings_match_probes_from_the_instance() -> None:
    instance = _instance(APP, SSH, {"port": 9000, "type": "http", "endpoint": ""})
    carried = _health({"endpoints": [m.model_dump(mode="json") for m in instance.port_mappings]}).endpoints
    for port in (None, 22, 8000, 9000):
        assert probes_for_mappings(carried, port=port, path="/h") == probes_for(
            instance, port=port, path="/h"
        )


def _health(carried: dict[str, Any]) -> HealthResult:
    """The previous check's result as the state document carries it."""
    return HealthResult.model_validate({"outcome": "waiting", "delaySeconds": 2, "checks": 1, **carried})


@pytest.mark.parametrize(
    "previous", [{}, {"endpoints": "x"}, {"endpoints": [{"type": "http"}]}, {"endpoints": [7]}]
)
def test_missing_or_malformed_carried_endpoints_mean_none(previous: dict[str, Any]) -> None:
    assert _health(previous).endpoints == []


def test_a_tcp_port_is_connected_to_never_sent_http() -> None:
    http, tcp = FakeHttp(200), FakeTcp()
    verdict = _judge(_instance(APP, SSH), http, tcp, port=22)
    assert verdict.healthy
    assert http.calls == []
    assert tcp.calls == [("proxy.us-ca-6.gpu-instance.novita.ai", 32787, 2.5)]
    assert not _judge(_instance(APP, SSH), FakeHttp(200), FakeTcp(fails=True), port=22).healthy


def test_the_requested_path_is_probed_on_the_requested_port() -> None:
    http = FakeHttp(200)
    _judge(
        _instance(APP, {"port": 9000, "type": "http", "endpoint": "https://other.example.com"}),
        http,
        port=9000,
        path="/health",
    )
    assert http.calls == [("https://other.example.com/health", 2.5)]


def test_without_a_request_every_http_port_must_answer() -> None:
    second = {"port": 9000, "type": "http", "endpoint": "http://b.example.com"}
    http = FakeHttp(200)
    assert _judge(_instance(APP, second, SSH), http).healthy
    assert len(http.calls) == 2


def test_a_port_without_an_endpoint_yet_is_waited_for() -> None:
    verdict = _judge(_instance({"port": 8000, "type": "http", "endpoint": ""}), FakeHttp(200), port=8000)
    assert not verdict.healthy
    assert "no endpoint for port 8000" in verdict.summary()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.5",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
    ],
)
def test_the_guard_refuses_private_addresses(address: str) -> None:
    assert not is_public_address(address)
    with pytest.raises(UnsafeTarget, match="ALLOW_PRIVATE_NETWORK_TARGETS"):
        check_target_allowed(address, 80, allow_private=False, resolve=system_resolver)
    if address in {"169.254.169.254", "0.0.0.0"}:  # metadata, non-unicast: never, as for webhooks
        with pytest.raises(UnsafeTarget, match="refused even with"):
            check_target_allowed(address, 80, allow_private=True, resolve=system_resolver)
    else:
        check_target_allowed(address, 80, allow_private=True, resolve=system_resolver)  # local runs may


def test_the_guard_checks_what_a_name_resolves_to() -> None:
    with pytest.raises(UnsafeTarget):
        check_target_allowed(
            "metadata.internal", 80, allow_private=False, resolve=lambda host, port: ["169.254.169.254"]
        )
    with pytest.raises(UnsafeTarget, match="metadata"):
        check_target_allowed(
            "metadata.internal", 80, allow_private=True, resolve=lambda host, port: ["169.254.169.254"]
        )
    check_target_allowed("app.example.com", 443, allow_private=False, resolve=public_resolver)
    assert is_public_address("8.8.8.8")


def test_a_refused_probe_target_stops_the_check() -> None:
    instance = _instance({"port": 8000, "type": "http", "endpoint": "http://127.0.0.1:8000"})
    http = FakeHttp(200)
    with pytest.raises(UnsafeTarget):
        judge_health(
            probes_for(instance),
            timeout=1,
            allow_private=False,
            http_get=http,
            connect=FakeTcp(),
            resolve=system_resolver,
        )
    assert http.calls == []  # nothing was sent


# --- the real GET does not follow redirects --------------------------------------------------------


class _Redirecting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/ok":
            self.send_response(200)
        else:
            self.send_response(302)
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_http_probe_sees_the_redirect_itself(redirecting_server: str) -> None:
    session = requests.Session()
    session.trust_env = False
    get = http_get_status(session)
    assert get(f"{redirecting_server}/health", 2) == 302
    assert get(f"{redirecting_server}/ok", 2) == 200
    probe = Probe("http", 8000, f"{redirecting_server}/health")
    verdict = judge_health(
        [probe], timeout=2, allow_private=True, http_get=get, connect=FakeTcp(), resolve=system_resolver
    )
    assert not verdict.healthy
