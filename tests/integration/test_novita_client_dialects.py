"""The Novita client against the simulator in its default answers and in every dialect (alone and all at
once): the outcomes a caller relies on do not depend on how Novita pages, names its errors, keeps
deleted rows, keeps an old statusError or names its statuses."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import InsufficientResource, NotFound
from novita_orchestrator.novita.models import CreateInstanceRequest
from novita_orchestrator.settings import NovitaSettings
from tests.support.simulator import Simulator, api_session

pytestmark = pytest.mark.integration

LIST = "/gpu/instances"


def make_client(sim: Simulator, **overrides: Any) -> NovitaClient:
    session = requests.Session()
    session.trust_env = False  # loopback only
    values: dict[str, Any] = {
        "NOVITA_API_KEY": sim.api_key,
        "NOVITA_BASE_URL": sim.base_url,
        "NOVITA_RETRY_BASE_SECONDS": 0.01,
        "NOVITA_RETRY_MAX_SECONDS": 0.05,
        **overrides,
    }
    return NovitaClient(NovitaSettings(**values), session=session)


def posts(sim: Simulator, path: str) -> int:
    return len(sim.admin.journal(path=path, method="POST"))


def status_of(sim: Simulator, instance_id: str) -> str:
    return str(next(i["status"] for i in sim.admin.state()["instances"] if i["id"] == instance_id))


def delete(sim: Simulator, instance_id: str) -> None:
    with api_session(sim) as http:
        answer = http.post(
            sim.base_url + "/gpu/instance/delete", json={"instanceId": instance_id}, timeout=10
        )
    assert answer.status_code == 200, answer.text


@pytest.mark.every_dialect
def test_every_row_of_a_name_filter_once_and_later_listings_cost_no_more(simulator, dialects):
    simulator.admin.add_instances([{"id": f"batch-{n:03}", "name": f"batch-{n:03}"} for n in range(120)])
    client = make_client(simulator)

    first = client.list_instances(name="batch-")
    first_cost = len(simulator.admin.journal(path=LIST))
    simulator.admin.clear_journal()
    again = client.list_instances(name="batch-")

    expected = [f"batch-{n:03}" for n in range(120)]
    assert [i.id for i in first] == expected and [i.id for i in again] == expected
    pages = 120 // 20 if "capped-pages" in dialects else 3
    assert first_cost <= pages + 2
    assert len(simulator.admin.journal(path=LIST)) <= pages + 1  # + the empty page without total


@pytest.mark.every_dialect
def test_a_name_lookup_skips_fuzzy_matches_and_deleted_namesakes(simulator, dialects):
    simulator.admin.set_config(time_scale=0)
    delete(simulator, "inst-trainer")
    simulator.admin.advance(10)  # removed: gone, or (keep-removed) still listed
    simulator.admin.add_instances([{"id": "inst-trainer-b", "name": "trainer"}])
    delete(simulator, "inst-trainer-b")  # being removed: listed in every dialect
    simulator.admin.add_instances([{"id": "inst-trainer-c", "name": "trainer"}, {"name": "trainer-01"}])

    found = make_client(simulator).find_instances_by_name("trainer")

    assert [i.id for i in found] == ["inst-trainer-c"]


@pytest.mark.every_dialect
def test_a_start_of_an_exited_then_of_a_starting_instance_both_count_as_started(simulator, dialects):
    client = make_client(simulator)

    client.start_instance("inst-dev-box")
    client.start_instance("inst-dev-box")  # already on its way: Novita refuses, the status says so

    assert posts(simulator, "/gpu/instance/start") == 2
    assert status_of(simulator, "inst-dev-box") in {"pending", "toStart", "starting"}


@pytest.mark.every_dialect
def test_a_stop_of_a_stopped_instance_counts_as_stopped(simulator, dialects):
    make_client(simulator).stop_instance("inst-dev-box")

    assert posts(simulator, "/gpu/instance/stop") == 1


@pytest.mark.every_dialect
def test_a_start_whose_answer_is_lost_is_not_sent_again(simulator, dialects):
    simulator.admin.add_fault(kind="drop", method="POST", path="/gpu/instance/start", when="after")

    make_client(simulator).start_instance("inst-dev-box")

    assert posts(simulator, "/gpu/instance/start") == 1  # the look after it showed it on its way


@pytest.mark.every_dialect
def test_an_unknown_instance_is_not_found(simulator, dialects):
    with pytest.raises(NotFound):
        make_client(simulator).get_instance("inst-missing")

    assert len(simulator.admin.journal()) == 1


@pytest.mark.every_dialect
def test_a_create_whose_answer_is_lost_makes_one_instance(simulator, dialects):
    simulator.admin.add_instances([{"name": f"filler-{n:02}"} for n in range(30)])
    simulator.admin.add_fault(kind="drop", method="POST", path="/gpu/instance/create", when="after")
    request = CreateInstanceRequest(name="lost-answer", product_id="prod-rtx4090-24g", image_url="nginx:1.27")

    instance_id = make_client(simulator).create_instance(request)

    named = [i["id"] for i in simulator.admin.state()["instances"] if i["name"] == "lost-answer"]
    assert named == [instance_id]
    assert posts(simulator, "/gpu/instance/create") == 1


def test_no_capacity_is_insufficient_resource(simulator, dialects):
    request = CreateInstanceRequest(name="big", product_id="prod-h100-80g", image_url="nginx:1.27")

    with pytest.raises(InsufficientResource):
        make_client(simulator).create_instance(request)


@pytest.mark.every_dialect
def test_templates_of_every_page(simulator, dialects):
    templates = simulator.admin.state()["templates"]
    extra = [{**templates[1], "Id": f"tpl-extra-{n:02}", "name": f"extra-{n:02}"} for n in range(45)]
    simulator.admin.reset({"templates": [*templates, *extra]})
    simulator.admin.set_dialects(*dialects)

    private = make_client(simulator).list_templates(channel="private")

    assert sorted(t.id for t in private) == sorted(["tpl-private-app", *(t["Id"] for t in extra)])
