"""Client behaviour on answers the simulator never gives: odd bodies, endless pages, the guard's deadline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NovitaError, RateLimited, UnexpectedResponse
from novita_orchestrator.novita.models import CreateInstanceRequest
from novita_orchestrator.settings import ConfigurationError, NovitaSettings
from tests.support.clock import FakeClock
from tests.support.fake_http import ScriptedSession

API_KEY = "sk_unit_test_key_123456"


def client(
    session: requests.Session, clock: FakeClock | None = None, guard: Any = None, **overrides: Any
) -> NovitaClient:
    values: dict[str, Any] = {
        "NOVITA_API_KEY": API_KEY,
        "NOVITA_BASE_URL": "https://novita.invalid/gpu-instance/openapi/v1",
        "NOVITA_RETRY_BASE_SECONDS": 0.01,
        "NOVITA_RETRY_MAX_SECONDS": 0.05,
        "NOVITA_PAGE_SIZE": 2,
        **overrides,
    }
    kwargs: dict[str, Any] = {"session": session, "clock": clock or FakeClock()}
    if guard is not None:
        kwargs["guard"] = guard
    return NovitaClient(NovitaSettings(**values), **kwargs)


def instance_row(n: int) -> dict[str, Any]:
    return {"id": f"i-{n}", "name": f"box-{n}", "status": "exited"}


def test_every_request_carries_the_key_the_json_type_and_timeouts() -> None:
    seen_timeouts: list[Any] = []

    class TimeoutSpy(ScriptedSession):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
            seen_timeouts.append(kwargs.get("timeout"))
            return super().request(method, url, *args, **kwargs)

    session = TimeoutSpy(lambda m, u, p: (200, "", {}))
    client(session, NOVITA_CONNECT_TIMEOUT_SECONDS=1.5, NOVITA_READ_TIMEOUT_SECONDS=7).start_instance("i-1")

    method, url, _, headers = session.sent[0]
    assert (method, url) == ("POST", "https://novita.invalid/gpu-instance/openapi/v1/gpu/instance/start")
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Content-Type"] == "application/json"
    assert seen_timeouts == [(1.5, 7.0)]


@pytest.mark.parametrize("body", ["", "OK", "[]", "null"])
def test_actions_accept_empty_or_non_json_success_bodies(body: str) -> None:
    session = ScriptedSession(lambda m, u, p: (200, body, {}))

    client(session).stop_instance("i-1")

    assert len(session.sent) == 1


def test_listing_learns_the_page_numbering_once_and_stops_at_total() -> None:
    rows = [instance_row(n) for n in range(5)]

    def answer(method: str, url: str, params: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
        page = int(params["pageNum"])  # pages count from 1; page 0 is empty
        return 200, json.dumps({"instances": rows[max(page - 1, 0) * 2 : page * 2], "total": 5}), {}

    session = ScriptedSession(answer)
    novita = client(session)

    assert [i.id for i in novita.list_instances()] == [f"i-{n}" for n in range(5)]
    assert [s[2]["pageNum"] for s in session.sent] == [0, 1, 2, 3]
    session.sent.clear()
    assert [i.id for i in novita.list_instances()] == [f"i-{n}" for n in range(5)]
    assert [s[2]["pageNum"] for s in session.sent] == [1, 2, 3]  # learned: no page 0 any more


def test_listing_without_total_reads_until_an_empty_page() -> None:
    rows = [instance_row(n) for n in range(4)]

    def answer(method: str, url: str, params: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
        page, size = int(params["pageNum"]), int(params["pageSize"])
        return 200, json.dumps({"instances": rows[page * size : (page + 1) * size]}), {}

    session = ScriptedSession(answer)

    assert len(client(session).list_instances()) == 4
    assert [s[2]["pageNum"] for s in session.sent] == [0, 1, 2]  # two full pages, then an empty one


def test_listing_stops_at_an_empty_page_even_if_total_says_more() -> None:
    def answer(method: str, url: str, params: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
        rows = [instance_row(1), instance_row(2)] if params["pageNum"] == 0 else []
        return 200, json.dumps({"instances": rows, "total": 99}), {}

    session = ScriptedSession(answer)

    assert len(client(session).list_instances()) == 2
    assert len(session.sent) == 2


def test_a_server_that_ignores_page_numbers_ends_the_listing_without_failing() -> None:
    session = ScriptedSession(
        lambda m, u, p: (200, json.dumps({"instances": [instance_row(1), instance_row(2)], "total": 500}), {})
    )

    assert [i.id for i in client(session).list_instances()] == ["i-1", "i-2"]
    assert len(session.sent) == 3  # page 0, page 1 (the same rows: pages from 1?), page 2 (the same)


def test_an_unreadable_instance_is_reported_without_its_content() -> None:
    body = json.dumps({"name": "no-id", "connectComponentSSH": {"password": "ssh-secret-999"}})
    session = ScriptedSession(lambda m, u, p: (200, body, {}))

    with pytest.raises(UnexpectedResponse) as raised:
        client(session).get_instance("i-1")

    assert "id" in str(raised.value)
    assert "ssh-secret-999" not in str(raised.value)


class DeadlineGuard:
    def __init__(self) -> None:
        self.deadlines: list[float] = []
        self.failures: list[NovitaError] = []

    def before_request(self, operation: str, deadline: float) -> None:
        self.deadlines.append(deadline)

    def on_success(self, operation: str) -> None:
        return None

    def on_failure(self, operation: str, error: NovitaError) -> None:
        self.failures.append(error)


def test_the_guard_gets_the_call_deadline_on_every_attempt() -> None:
    clock = FakeClock(start=1_000.0)
    guard = DeadlineGuard()
    answers: Iterator[tuple[int, str, dict[str, str]]] = iter(
        [(503, "", {}), (503, "", {}), (200, json.dumps(instance_row(1)), {})]
    )
    session = ScriptedSession(lambda m, u, p: next(answers))

    client(session, clock, guard, NOVITA_RETRY_BUDGET_SECONDS=20).get_instance("i-1")

    assert guard.deadlines == [1_020.0, 1_020.0, 1_020.0]
    assert [e.status for e in guard.failures] == [503, 503]


def test_a_429_waits_on_the_injected_clock() -> None:
    clock = FakeClock(start=1_000.0)
    answers = iter([(429, "", {"Retry-After": "3"}), (200, json.dumps(instance_row(1)), {})])
    session = ScriptedSession(lambda m, u, p: next(answers))

    client(session, clock).get_instance("i-1")

    assert clock.now() >= 1_003.0


def test_a_429_asking_for_more_than_the_budget_fails_at_once() -> None:
    clock = FakeClock(start=1_000.0)
    guard = DeadlineGuard()
    session = ScriptedSession(lambda m, u, p: (429, "", {"Retry-After": "45"}))

    with pytest.raises(RateLimited) as raised:
        client(session, clock, guard, NOVITA_RETRY_BUDGET_SECONDS=30).get_instance("i-1")

    assert raised.value.retry_after == 45.0
    assert len(session.sent) == 1
    assert clock.now() == 1_000.0
    assert isinstance(guard.failures[0], RateLimited) and guard.failures[0].retry_after == 45.0


def test_the_api_key_is_required() -> None:
    with pytest.raises(ConfigurationError, match="NOVITA_API_KEY"):
        NovitaSettings.load(NOVITA_API_KEY=None, NOVITA_API_KEY_SECRET_ARN=None)


def test_a_create_that_never_reached_novita_is_sent_again_without_a_lookup() -> None:
    creates: list[int] = []

    def answer(method: str, url: str, params: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
        if method == "POST":
            creates.append(1)
            if len(creates) == 1:
                raise requests.ConnectTimeout("connect timed out")
            return 200, json.dumps({"id": "i-new"}), {}
        return 200, json.dumps({"instances": [], "total": 0}), {}

    session = ScriptedSession(answer)
    request = CreateInstanceRequest(name="w", product_id="p", image_url="nginx")

    assert client(session).create_instance(request) == "i-new"
    # One lookup up front (to ignore older namesakes), none after the failed connection.
    assert [m for m, _, _, _ in session.sent] == ["GET", "POST", "POST"]
