"""Starts, stops and instance refs under answers Novita's docs leave open (and the simulator's
dialects do not all give): nameless refusals, get-by-ID answers that are not an instance, deleted rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import Conflict, Forbidden, Unauthorized
from novita_orchestrator.settings import NovitaSettings
from novita_orchestrator.steps.resolve_target import find_instance
from novita_orchestrator.workflow.errors import AmbiguousInstanceName, InstanceNotFound, InstanceRemoved
from tests.support.clock import FakeClock
from tests.support.fake_http import ScriptedSession

Reply = tuple[int, str, dict[str, str]]
BARE_STATE_REFUSAL = json.dumps({"code": 400, "message": "invalid state change"})


def client(session: ScriptedSession) -> NovitaClient:
    settings = NovitaSettings(
        NOVITA_API_KEY="sk_unit_test_key_123456",
        NOVITA_BASE_URL="https://novita.invalid/gpu-instance/openapi/v1",
        NOVITA_RETRY_BASE_SECONDS=0.01,
        NOVITA_RETRY_MAX_SECONDS=0.05,
    )
    return NovitaClient(settings, session=session, clock=FakeClock())


def instance(instance_id: str, status: str, name: str = "trainer") -> dict[str, Any]:
    return {"id": instance_id, "name": name, "status": status}


def refused_then(status: str, refusal: Reply = (400, BARE_STATE_REFUSAL, {})) -> ScriptedSession:
    """Novita refuses the action and then shows the instance in ``status``."""

    def answer(method: str, url: str, params: dict[str, Any]) -> Reply:
        if method == "POST":
            return refusal
        return 200, json.dumps(instance("i-1", status)), {}

    return ScriptedSession(answer)


@pytest.mark.parametrize("status", ["toStart", "starting", "pulling", "running", "restarting", "pending"])
def test_a_start_refused_without_a_name_is_success_when_the_instance_is_on_its_way(status: str) -> None:
    session = refused_then(status)

    client(session).start_instance("i-1")

    assert session.paths() == ["POST /gpu/instance/start", "GET /gpu/instance"]


def test_a_start_refused_without_a_name_is_raised_when_the_instance_stays_exited() -> None:
    session = refused_then("exited")

    with pytest.raises(Conflict, match="invalid state change"):
        client(session).start_instance("i-1")

    assert session.paths() == ["POST /gpu/instance/start", "GET /gpu/instance"]


@pytest.mark.parametrize("status", ["toStop", "stopping", "exited"])
def test_a_stop_of_a_stopped_instance_refused_without_a_name_is_success(status: str) -> None:
    session = refused_then(status)

    client(session).stop_instance("i-1")

    assert session.paths() == ["POST /gpu/instance/stop", "GET /gpu/instance"]


@pytest.mark.parametrize(
    ("refusal", "kind"),
    [((401, "", {}), Unauthorized), ((403, json.dumps({"message": "invalid state change"}), {}), Forbidden)],
)
def test_a_start_refused_for_the_key_is_raised_without_a_look(refusal: Reply, kind: type[Exception]) -> None:
    session = refused_then("starting", refusal)

    with pytest.raises(kind):
        client(session).start_instance("i-1")

    assert session.paths() == ["POST /gpu/instance/start"]


def lookup_world(get_answer: Reply, listed: list[dict[str, Any]]) -> ScriptedSession:
    """Get-by-ID of an unlisted value answers ``get_answer``; the list holds ``listed``."""
    by_id = {row["id"]: row for row in listed}

    def answer(method: str, url: str, params: dict[str, Any]) -> Reply:
        if url.endswith("/gpu/instances"):
            return 200, json.dumps({"instances": listed, "total": len(listed)}), {}
        wanted = params["instanceId"]
        if wanted in by_id:
            return 200, json.dumps(by_id[wanted]), {}
        return get_answer

    return ScriptedSession(answer)


ODD_GETS = [
    pytest.param((400, json.dumps({"code": 400, "message": "get instance failed"}), {}), id="bare-400"),
    pytest.param((400, json.dumps({"code": 400, "message": "Instance Not Found"}), {}), id="bare-not-found"),
    pytest.param((404, "", {}), id="404"),
    pytest.param((422, json.dumps({"reason": "VALIDATOR_PARAM"}), {}), id="invalid-id"),
    pytest.param((200, "{}", {}), id="empty-200"),
    pytest.param((200, json.dumps(instance("i-other", "running", "other")), {}), id="another-instance"),
]


@pytest.mark.parametrize("get_answer", ODD_GETS)
def test_a_name_is_found_whatever_get_by_id_answers_for_it(get_answer: Reply) -> None:
    session = lookup_world(get_answer, [instance("i-1", "exited")])

    found = find_instance(client(session), "trainer")

    assert found.id == "i-1"
    assert session.paths() == ["GET /gpu/instance", "GET /gpu/instances", "GET /gpu/instance"]


@pytest.mark.parametrize(("status", "kind"), [(401, Unauthorized), (403, Forbidden)])
def test_a_refused_key_is_not_taken_for_a_name(status: int, kind: type[Exception]) -> None:
    session = lookup_world((status, "", {}), [instance("i-1", "exited")])

    with pytest.raises(kind):
        find_instance(client(session), "trainer")

    assert session.paths() == ["GET /gpu/instance"]


@pytest.mark.parametrize("removed", ["toRemove", "removing", "removed"])
def test_deleted_namesakes_are_not_ambiguous(removed: str) -> None:
    not_found: Reply = (400, json.dumps({"message": "not found"}), {})
    session = lookup_world(not_found, [instance("i-old", removed), instance("i-new", "exited")])

    assert find_instance(client(session), "trainer").id == "i-new"


def test_only_deleted_namesakes_is_not_found() -> None:
    session = lookup_world((400, "", {}), [instance("i-old", "removed")])

    with pytest.raises(InstanceNotFound) as raised:
        find_instance(client(session), "trainer")

    assert type(raised.value) is InstanceNotFound


def test_two_live_namesakes_are_ambiguous() -> None:
    session = lookup_world((400, "", {}), [instance("i-a", "exited"), instance("i-b", "running")])

    with pytest.raises(AmbiguousInstanceName, match="i-a, i-b"):
        find_instance(client(session), "trainer")


@pytest.mark.parametrize("removed", ["toRemove", "removing", "removed"])
def test_a_deleted_instance_addressed_by_id_fails_fast_as_removed(removed: str) -> None:
    session = lookup_world((400, "", {}), [instance("i-old", removed)])

    with pytest.raises(InstanceRemoved, match=f"i-old \\(trainer\\) is {removed}") as raised:
        find_instance(client(session), "i-old")

    assert raised.value.code == "INSTANCE_REMOVED"
    assert session.paths() == ["GET /gpu/instance"]
