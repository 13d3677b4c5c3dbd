"""The simulator's dialects: each switches one undocumented behaviour to its other plausible answer
(HTTP level, as a client sees it), they combine, ``/__admin`` and ``--dialect`` set them, and a reset
restores the starting ones. Deletion is modelled in every dialect."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from novita_local.simulator import Simulator, SimulatorAdminError
from novita_local.simulator.dialects import DIALECTS
from tests.support.novita_shapes import GET_ANSWER, LIST_ITEM, TEMPLATE, list_of, mismatches
from tests.support.ports import free_port
from tests.support.simulator import api_session

pytestmark = pytest.mark.integration


class Api:
    def __init__(self, simulator: Simulator) -> None:
        self.session = api_session(simulator)
        self.base = simulator.base_url

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=10)

    def page(self, num: int, size: int, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.get("/gpu/instances", pageNum=num, pageSize=size, **params).json()
        return answer

    def status(self, instance_id: str) -> str:
        return str(self.get("/gpu/instance", instanceId=instance_id).json()["status"])


@pytest.fixture
def api(simulator: Simulator) -> Iterator[Api]:
    simulator.admin.set_config(time_scale=0)
    made = Api(simulator)
    yield made
    made.session.close()


def ids(answer: dict[str, Any]) -> list[str]:
    return [row["id"] for row in answer["instances"]]


def test_the_default_answers(api):
    first = api.page(1, 2)
    assert api.page(0, 2) == first  # page 0 is read as page 1
    assert first["total"] == 5
    assert len(api.page(1, 500)["instances"]) == 5
    error = api.get("/gpu/instance", instanceId="nope").json()
    assert set(error) == {"code", "reason", "message", "metadata"}


def test_zero_pages_counts_pages_from_zero(api, simulator):
    simulator.admin.set_dialects("zero-pages")

    assert ids(api.page(0, 2)) == ["inst-dev-box", "inst-trainer"]
    assert ids(api.page(1, 2)) == ["inst-inference", "inst-twin-a"]
    assert ids(api.page(2, 2)) == ["inst-twin-b"]
    assert api.page(0, 2)["total"] == 5


def test_capped_pages_caps_at_20_and_drops_total(api, simulator):
    simulator.admin.add_instances([{"name": f"bulk-{n:02}"} for n in range(30)])
    simulator.admin.set_dialects("capped-pages")

    first = api.page(1, 50)

    assert len(first["instances"]) == 20 and "total" not in first
    assert len(api.page(2, 20)["instances"]) == 15
    templates = api.get("/templates", pageSize=50, pageNum=1).json()
    assert "total" not in templates and templates["pageSize"] == 20


def test_bare_errors_have_no_name_only_a_telling_message(api, simulator):
    simulator.admin.set_dialects("bare-errors")
    api.post("/gpu/instance/start", {"instanceId": "inst-dev-box"})

    cases = {
        "Instance Not Found": api.get("/gpu/instance", instanceId="nope"),
        "Template Not Found": api.get("/template", templateId="tpl-nope"),
        "invalid state change": api.post("/gpu/instance/start", {"instanceId": "inst-dev-box"}),
    }
    for message, response in cases.items():
        assert response.status_code == 400
        assert response.json() == {"code": 400, "message": message}
    capacity = api.post(
        "/gpu/instance/create",
        {"productId": "prod-h100-80g", "imageUrl": "nginx", "kind": "gpu", "gpuNum": 1, "rootfsSize": 10},
    ).json()
    assert set(capacity) == {"code", "message"} and "INSUFFICIENT_RESOURCE" in capacity["message"]
    unauthorized = requests.get(simulator.base_url + "/clusters", timeout=10)
    assert unauthorized.status_code == 401 and set(unauthorized.json()) == {"code", "message"}


def test_a_delete_goes_through_to_remove_and_removing_to_removed_then_is_gone(api, simulator):
    assert api.post("/gpu/instance/delete", {"instanceId": "inst-inference"}).json() == {}

    assert api.status("inst-inference") == "toRemove"
    simulator.admin.advance(2.5)
    assert [i["status"] for i in api.page(1, 50, name="inference")["instances"]] == ["removing"]
    simulator.admin.advance(5)
    assert api.page(1, 50, name="inference")["instances"] == []
    gone = api.get("/gpu/instance", instanceId="inst-inference")
    assert gone.status_code == 400 and gone.json()["reason"] == "RESOURCE_NOT_FOUND"
    again = api.post("/gpu/instance/delete", {"instanceId": "inst-dev-box"})
    assert again.status_code == 200
    assert api.post("/gpu/instance/delete", {"instanceId": "inst-dev-box"}).json()["reason"] == "CONFLICT"


def test_keep_removed_keeps_a_deleted_instance_listed_and_readable(api, simulator):
    simulator.admin.set_dialects("keep-removed")
    api.post("/gpu/instance/delete", {"instanceId": "inst-trainer"})
    simulator.admin.advance(10)

    assert [i["status"] for i in api.page(1, 50, name="trainer")["instances"]] == ["removed"]
    assert api.status("inst-trainer") == "removed"


def scarred(simulator: Simulator) -> None:
    simulator.admin.add_instances(
        [{"id": "inst-scarred", "name": "scarred", "statusError": {"state": "failed", "message": "old pull"}}]
    )


def test_a_start_clears_an_old_status_error_by_default(api, simulator):
    scarred(simulator)
    api.post("/gpu/instance/start", {"instanceId": "inst-scarred"})

    assert api.get("/gpu/instance", instanceId="inst-scarred").json()["statusError"] is None


def test_stale_status_error_keeps_the_old_status_error_through_the_start(api, simulator):
    simulator.admin.set_dialects("stale-status-error")
    scarred(simulator)
    api.post("/gpu/instance/start", {"instanceId": "inst-scarred"})

    for seconds in (0, 3, 30):
        simulator.admin.advance(seconds)
        assert (
            api.get("/gpu/instance", instanceId="inst-scarred").json()["statusError"]["message"] == "old pull"
        )
    assert api.status("inst-scarred") == "running"


def test_pending_shows_first_on_a_start_and_a_create(api, simulator):
    simulator.admin.set_dialects("pending")
    api.post("/gpu/instance/start", {"instanceId": "inst-dev-box"})
    created = api.post(
        "/gpu/instance/create",
        {
            "name": "p",
            "productId": "prod-rtx4090-24g",
            "imageUrl": "nginx",
            "kind": "gpu",
            "gpuNum": 1,
            "rootfsSize": 10,
        },
    ).json()["id"]

    assert [api.status("inst-dev-box"), api.status(created)] == ["pending", "pending"]
    simulator.admin.advance(2.5)
    assert [api.status("inst-dev-box"), api.status(created)] == ["toStart", "toCreate"]


def test_all_dialects_at_once_keep_the_documented_item_shapes(api, simulator):
    simulator.admin.set_dialects(*DIALECTS)

    listed = api.page(0, 50)
    templates = api.get("/templates", pageSize=50, pageNum=0).json()

    assert mismatches(listed, {"instances": list_of(LIST_ITEM)}) == []
    assert mismatches(api.get("/gpu/instance", instanceId="inst-inference").json(), GET_ANSWER) == []
    assert mismatches(templates, {"template": list_of(TEMPLATE), "pageSize": int, "pageNum": int}) == []
    assert simulator.admin.dialects() == list(DIALECTS)


def test_admin_refuses_unknown_dialects_and_a_reset_restores_the_starting_ones(simulator):
    with pytest.raises(SimulatorAdminError, match="unknown \\['zero-page'\\]"):
        simulator.admin.set_dialects("zero-page")
    simulator.admin.set_dialects("pending", "zero-pages")
    assert simulator.admin.dialects() == ["zero-pages", "pending"]

    simulator.admin.reset()

    assert simulator.admin.dialects() == []
    with Simulator(dialects="bare-errors,keep-removed") as started:
        started.admin.set_dialects()
        started.admin.reset()
        assert started.admin.dialects() == ["bare-errors", "keep-removed"]


def test_the_simulator_command_takes_dialects_and_refuses_unknown_ones():
    refused = subprocess.run(
        [sys.executable, "-m", "novita_local.cli", "simulator", "--dialect", "zero-pages,typo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "--dialect" in refused.stderr and "typo" in refused.stderr

    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "novita_local.cli", "simulator", "--port", str(port), "--dialect", "all"],
        stdout=subprocess.PIPE,
        text=True,
    ) as served:
        try:
            assert served.stdout is not None
            lines = [served.stdout.readline() for _ in range(3)]
            assert lines[2].strip() == f"dialects: {', '.join(DIALECTS)}"
            answer = requests.get(f"http://127.0.0.1:{port}/__admin/dialects", timeout=10).json()
            assert answer["dialects"] == list(DIALECTS)
        finally:
            served.terminate()
