"""The simulator speaks Novita's v1 GPU-instance API as our API reference documents it.

The facts below (paths, field names and types, the 18 statuses, error names and statuses) are
copied from the project's Novita API reference, so a drift in the simulator fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from novita_local.simulator import InstanceStatus, Simulator
from novita_orchestrator.novita.models import DOCUMENTED_STATUSES
from tests.support.novita_shapes import (
    ANSWERS,
    ENVELOPE_KEYS,
    GET_ANSWER,
    LIST_ITEM,
    PRODUCT,
    TEMPLATE,
    leaves,
    list_of,
    mismatches,
)
from tests.support.simulator import api_session

pytestmark = pytest.mark.integration


@dataclass
class Api:
    session: requests.Session
    base_url: str

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base_url + path, params=params, timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.base_url + path, json=body, timeout=10)

    def instance(self, instance_id: str) -> dict[str, Any]:
        response = self.get("/gpu/instance", instanceId=instance_id)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def status(self, instance_id: str) -> str:
        return str(self.instance(instance_id)["status"])


@pytest.fixture
def api(simulator: Simulator) -> Iterator[Api]:
    simulator.admin.set_config(time_scale=0)  # simulated time moves only when a test advances it
    session = api_session(simulator)
    yield Api(session, simulator.base_url)
    session.close()


def assert_error(response: requests.Response, status: int, reason: str, mentions: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["code"] == status
    assert body["reason"] == reason
    assert body["metadata"] == {}
    assert mentions in body["message"]


def gpu_create(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "made-here",
        "productId": "prod-rtx4090-24g",
        "imageUrl": "nginx:1.27",
        "kind": "gpu",
        "gpuNum": 2,
        "rootfsSize": 30,
        "ports": "8080/http, 22/tcp",
        "envs": [{"key": "A", "value": "1"}],
    }
    body.update(overrides)
    return body


# --------------------------------------------------------------------------- every path answers


@pytest.mark.parametrize(
    ("method", "path", "params", "top_keys"),
    [
        ("GET", "/gpu/instances", {"pageSize": 10, "pageNum": 1}, {"instances", "total"}),
        ("GET", "/gpu/instance", {"instanceId": "inst-dev-box"}, set(GET_ANSWER)),
        ("POST", "/gpu/instance/start", {"instanceId": "inst-dev-box"}, set()),
        ("POST", "/gpu/instance/stop", {"instanceId": "inst-inference"}, set()),
        ("POST", "/gpu/instance/create", gpu_create(), {"id"}),
        ("GET", "/templates", {}, {"template", "total"}),
        ("GET", "/template", {"templateId": "tpl-public-nginx"}, {"template"}),
        ("GET", "/repository/auths", {}, {"data"}),
        ("GET", "/products", {}, {"data"}),
        ("GET", "/clusters", {}, {"data"}),
    ],
)
def test_every_used_path_answers_json(api, method, path, params, top_keys):
    response = api.get(path, **params) if method == "GET" else api.post(path, params)

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert set(response.json()) >= top_keys
    if not top_keys:
        assert response.json() == {}


#: An instance with every optional part filled, so no documented list is checked empty.
FILLED = {
    "id": "inst-filled",
    "name": "filled",
    "status": "exited",
    "ports": "8080/http,22/tcp",
    "envs": [{"key": "MODE", "value": "serve"}],
    "statusError": {"state": "failed", "message": "image pull failed"},
}


def answer_of(api: Api, answer: str) -> Any:
    if answer == "list instances":
        return api.get("/gpu/instances", pageSize=50, pageNum=1).json()
    if answer == "get instance":
        return api.instance("inst-filled")
    if answer == "create instance":
        return api.post("/gpu/instance/create", gpu_create()).json()
    if answer == "list templates":
        return api.get("/templates", pageSize=10, pageNum=1).json()
    if answer == "get template":
        return api.get("/template", templateId="tpl-public-nginx").json()
    paths = {
        "list registry auths": "/repository/auths",
        "list products": "/products",
        "list clusters": "/clusters",
    }
    if answer in paths:
        return api.get(paths[answer]).json()
    return api.get("/gpu/instance", instanceId="nope").json()


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_each_documented_field_has_its_documented_type(api, simulator, answer):
    simulator.admin.add_instances([FILLED])

    value = answer_of(api, answer)

    assert mismatches(value, ANSWERS[answer], answer) == []
    assert leaves(value, ANSWERS[answer]) >= len(ANSWERS[answer])  # the lists checked are not empty


def test_a_running_instance_fills_its_endpoints_in_the_documented_types(api):
    inference = api.instance("inst-inference")

    assert mismatches(inference, GET_ANSWER, "get instance") == []
    assert all(m["endpoint"] for m in inference["portMappings"])


def test_the_field_check_reports_every_drift():
    good = {"port": 8080, "endpoint": "http://x", "type": "http"}
    spec = {"portMappings": list_of({"port": int, "endpoint": str, "type": str}), "ok": bool, "n": int}

    drifted = {"portMappings": [good, {"port": "8080", "type": "http"}], "ok": 1, "n": True}

    assert mismatches(drifted, spec) == [
        ".portMappings[1].port: str, documented int",
        ".portMappings[1].endpoint: missing",
        ".ok: int, documented bool",
        ".n: bool, documented int",
    ]


def test_base_url_is_the_real_api_prefix(simulator):
    assert simulator.base_url == simulator.url + "/gpu-instance/openapi/v1"


# --------------------------------------------------------------------------- shapes


def test_list_items_carry_documented_fields_and_no_endpoint(api):
    instances = api.get("/gpu/instances", pageSize=50, pageNum=1).json()["instances"]

    assert len(instances) == 5
    for item in instances:
        assert set(item) >= set(LIST_ITEM)
        for counted in ("cpuNum", "memory", "gpuNum"):
            assert isinstance(item[counted], str)
        assert isinstance(item["rootfsSize"], int)
        for mapping in item["portMappings"]:
            assert set(mapping) == {"port", "type"}
            assert isinstance(mapping["port"], int)
    dev_box = next(i for i in instances if i["id"] == "inst-dev-box")
    assert dev_box["portMappings"] == [{"port": 8888, "type": "http"}, {"port": 22, "type": "tcp"}]
    assert (dev_box["cpuNum"], dev_box["memory"], dev_box["gpuNum"]) == ("16", "62", "1")


def test_get_of_a_running_instance_has_endpoints_and_connection_secrets(api):
    inference = api.instance("inst-inference")

    assert set(inference) >= set(GET_ANSWER)
    assert inference["status"] == "running"
    assert inference["statusError"] is None
    (mapping,) = inference["portMappings"]
    assert set(mapping) == {"port", "endpoint", "type"}
    assert mapping["port"] == 8000 and mapping["type"] == "http"
    assert mapping["endpoint"].startswith("http://127.0.0.1:")
    assert set(inference["connectComponentSSH"]) == {"sshCommand", "password", "isRunning"}
    assert inference["connectComponentSSH"]["password"] == "ssh-pass-inst-inference"
    assert set(inference["connectComponentWebTerminal"]) == {"address", "username", "password", "isRunning"}
    assert inference["connectComponentWebTerminal"]["password"] == "term-pass-inst-inference"
    assert inference["connectComponentWebTerminal"]["isRunning"] is True
    for counted in ("cpuNum", "memory", "gpuNum"):
        assert isinstance(inference[counted], str)


def test_endpoints_are_empty_unless_running(api):
    dev_box = api.instance("inst-dev-box")

    assert dev_box["status"] == "exited"
    assert [m["endpoint"] for m in dev_box["portMappings"]] == ["", ""]
    assert dev_box["connectComponentSSH"]["isRunning"] is False


def test_status_enum_is_exactly_novitas_eighteen():
    # DOCUMENTED_STATUSES is the client's copy of the reference's list (shared/novita-api.md §4).
    assert {status.value for status in InstanceStatus} == DOCUMENTED_STATUSES
    assert len(DOCUMENTED_STATUSES) == 18


# --------------------------------------------------------------------------- lifecycles


def observe(api: Api, simulator: Simulator, instance_id: str, steps: list[float]) -> list[str]:
    """The status right away, then after each advance of the simulated clock."""
    seen = [api.status(instance_id)]
    for seconds in steps:
        simulator.admin.advance(seconds)
        seen.append(api.status(instance_id))
    return seen


def test_start_goes_through_to_start_and_starting_to_running(api, simulator):
    assert api.post("/gpu/instance/start", {"instanceId": "inst-dev-box"}).json() == {}

    # Defaults: toStart 2 s, starting 20 s.
    assert observe(api, simulator, "inst-dev-box", [1.5, 1, 20]) == [
        "toStart",
        "toStart",
        "starting",
        "running",
    ]


def test_stop_goes_through_to_stop_and_stopping_to_exited(api, simulator):
    assert api.post("/gpu/instance/stop", {"instanceId": "inst-inference"}).json() == {}

    # Defaults: toStop 2 s, stopping 10 s.
    assert observe(api, simulator, "inst-inference", [2.5, 10]) == ["toStop", "stopping", "exited"]


def test_create_goes_through_to_create_creating_pulling_to_running(api, simulator):
    created = api.post("/gpu/instance/create", gpu_create(rootfsSize=5)).json()

    assert set(created) == {"id"}
    # Defaults: toCreate 2 s, creating 10 s, pulling 30 s.
    seen = observe(api, simulator, created["id"], [2.5, 10, 30])
    assert seen == ["toCreate", "creating", "pulling", "running"]
    made = api.instance(created["id"])
    assert made["name"] == "made-here"
    assert made["rootfsSize"] == 10  # sizes below 10 GB are raised, as Novita does
    assert (made["cpuNum"], made["memory"], made["gpuNum"]) == ("32", "124", "2")
    assert [(m["port"], m["type"]) for m in made["portMappings"]] == [(8080, "http"), (22, "tcp")]
    assert made["envs"] == [{"key": "A", "value": "1"}]
    listed = api.get("/gpu/instances", name="made-here").json()
    assert [i["id"] for i in listed["instances"]] == [created["id"]]


def test_list_and_get_agree_on_a_derived_status(api, simulator):
    api.post("/gpu/instance/start", {"instanceId": "inst-trainer"})
    simulator.admin.advance(5)

    listed = api.get("/gpu/instances", name="trainer").json()["instances"]

    assert [i["status"] for i in listed] == ["starting"] == [api.status("inst-trainer")]


def test_a_private_image_pulls_only_with_registry_credentials(api, simulator):
    private = "registry.example.com/team/app:1.0"
    without = api.post("/gpu/instance/create", gpu_create(name="no-auth", imageUrl=private)).json()["id"]
    by_id = api.post(
        "/gpu/instance/create", gpu_create(name="by-id", imageUrl=private, imageAuthId="auth-team-registry")
    ).json()["id"]
    inline = api.post(
        "/gpu/instance/create",
        gpu_create(name="inline", imageUrl=private, imageAuth="deploy:fake-registry-pass-7Qx9"),
    ).json()["id"]

    simulator.admin.advance(42)

    failed = api.instance(without)
    assert failed["status"] == "exited"
    assert failed["statusError"]["state"] == "failed"
    assert "unauthorized" in failed["statusError"]["message"]
    assert api.instance(by_id)["imageAuthId"] == "auth-team-registry"
    assert [api.status(by_id), api.status(inline)] == ["running", "running"]


# --------------------------------------------------------------------------- errors


def test_unknown_instance_is_a_400_resource_not_found(api):
    assert_error(api.get("/gpu/instance", instanceId="nope"), 400, "RESOURCE_NOT_FOUND", "nope")
    assert_error(api.post("/gpu/instance/start", {"instanceId": "nope"}), 400, "RESOURCE_NOT_FOUND")
    assert_error(api.post("/gpu/instance/stop", {"instanceId": "nope"}), 400, "RESOURCE_NOT_FOUND")


def test_unknown_template_is_a_400_template_not_found(api):
    assert_error(api.get("/template", templateId="tpl-nope"), 400, "TEMPLATE_NOT_FOUND", "tpl-nope")


def test_starting_an_instance_that_is_not_exited_is_a_conflict_naming_its_status(api):
    running = api.post("/gpu/instance/start", {"instanceId": "inst-inference"})
    api.post("/gpu/instance/start", {"instanceId": "inst-dev-box"})
    starting = api.post("/gpu/instance/start", {"instanceId": "inst-dev-box"})

    assert_error(running, 400, "CONFLICT", "running")
    assert_error(starting, 400, "CONFLICT", "toStart")


def test_stopping_an_instance_that_is_not_running_is_a_conflict(api):
    assert_error(api.post("/gpu/instance/stop", {"instanceId": "inst-dev-box"}), 400, "CONFLICT", "exited")


def test_creating_on_a_product_without_capacity_is_insufficient_resource(api):
    response = api.post("/gpu/instance/create", gpu_create(productId="prod-h100-80g"))

    assert_error(response, 400, "INSUFFICIENT_RESOURCE")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"productId": None}, "productId"),
        ({"productId": "prod-unknown"}, "productId"),
        ({"imageUrl": ""}, "imageUrl"),
        ({"kind": None}, "kind"),
        ({"kind": "tpu"}, "kind"),
        ({"gpuNum": 0}, "gpuNum"),
        ({"gpuNum": 9}, "gpuNum"),
        ({"gpuNum": "1"}, "gpuNum"),
        ({"rootfsSize": None}, "rootfsSize"),
        ({"rootfsSize": 7000}, "rootfsSize"),
        ({"ports": "8080/udp"}, "ports"),
        ({"ports": "2222/tcp"}, "ports"),
        ({"ports": "http"}, "ports"),
        ({"envs": [{"key": 1, "value": "x"}]}, "envs"),
        ({"imageAuth": "no-colon"}, "imageAuth"),
        ({"imageAuthId": "auth-unknown"}, "imageAuthId"),
        ({"clusterId": "cl-eu-de-1", "productId": "prod-a100-80g"}, "clusterId"),
    ],
)
def test_invalid_create_is_validator_param_naming_the_field(api, simulator, overrides, field):
    before = len(simulator.admin.state()["instances"])

    response = api.post("/gpu/instance/create", gpu_create(**overrides))

    assert_error(response, 400, "VALIDATOR_PARAM", field)
    assert len(simulator.admin.state()["instances"]) == before


@pytest.mark.parametrize("body", [None, [], {"instanceId": ""}, {"instanceId": 7}])
def test_start_without_an_instance_id_is_validator_param(api, body):
    assert_error(api.post("/gpu/instance/start", body), 400, "VALIDATOR_PARAM")


def test_unknown_path_is_a_404_in_the_same_envelope(api):
    assert_error(api.get("/gpu/instance/nothing-here"), 404, "NOT_FOUND")


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer ", "Bearer wrong-key", "Basic dGVzdA==", "test-key-for-the-simulator"],
)
def test_requests_without_the_right_bearer_key_are_401(simulator, header):
    headers = {} if header is None else {"Authorization": header}

    response = requests.get(simulator.base_url + "/clusters", headers=headers, timeout=10)

    assert_error(response, 401, "UNAUTHORIZED")


def test_without_a_configured_key_any_non_empty_bearer_key_is_accepted():
    with Simulator() as open_simulator:
        session = api_session(open_simulator, api_key="anything-at-all")
        assert session.get(open_simulator.base_url + "/clusters", timeout=10).status_code == 200
        bare = requests.get(open_simulator.base_url + "/clusters", timeout=10)
        assert_error(bare, 401, "UNAUTHORIZED")


# --------------------------------------------------------------------------- lists and filters


def test_instance_pagination_reports_the_total_and_visits_every_instance(api, simulator):
    simulator.admin.add_instances([{"name": f"bulk-{n:03d}"} for n in range(120)])

    pages = [api.get("/gpu/instances", pageSize=50, pageNum=n, name="BULK").json() for n in (1, 2, 3, 4)]

    assert [page["total"] for page in pages] == [120] * 4
    assert [len(page["instances"]) for page in pages] == [50, 50, 20, 0]
    names = [i["name"] for page in pages for i in page["instances"]]
    assert names == [f"bulk-{n:03d}" for n in range(120)]


def test_page_size_defaults_to_10_is_capped_at_50_and_page_zero_is_page_one(api, simulator):
    simulator.admin.add_instances([{"name": f"bulk-{n:03d}"} for n in range(60)])

    assert len(api.get("/gpu/instances").json()["instances"]) == 10
    assert len(api.get("/gpu/instances", pageSize=500, pageNum=1).json()["instances"]) == 50
    page_zero = api.get("/gpu/instances", pageSize=7, pageNum=0).json()["instances"]
    page_one = api.get("/gpu/instances", pageSize=7, pageNum=1).json()["instances"]
    assert page_zero == page_one


def test_instance_filters_by_name_product_and_status(api):
    def names(**params: Any) -> list[str]:
        return [i["name"] for i in api.get("/gpu/instances", pageSize=50, **params).json()["instances"]]

    assert names(name="TWIN") == ["twin", "twin"]
    assert names(name="ev-bo") == ["dev-box"]
    assert names(productName="a100") == ["trainer"]
    assert names(status="running") == ["inference"]
    assert_error(api.get("/gpu/instances", status="sleeping"), 400, "VALIDATOR_PARAM", "status")
    assert_error(api.get("/gpu/instances", pageSize="many"), 400, "VALIDATOR_PARAM", "pageSize")


def test_registry_auths_are_listed_with_their_password(api):
    assert api.get("/repository/auths").json() == {
        "data": [
            {
                "id": "auth-team-registry",
                "name": "team-registry",
                "username": "deploy",
                "password": "fake-registry-pass-7Qx9",
            }
        ]
    }


def test_templates_use_a_capital_id_and_port_groups(api):
    listed = api.get("/templates").json()
    private = api.get("/templates", channel="private").json()
    fetched = api.get("/template", templateId="tpl-private-app").json()

    assert listed["total"] == 2
    for template in listed["template"]:
        assert set(template) >= set(TEMPLATE)
        assert "id" not in template
    assert [t["Id"] for t in private["template"]] == ["tpl-private-app"]
    assert private["total"] == 1
    template = fetched["template"]
    assert template["Id"] == "tpl-private-app"
    assert template["image"] == "registry.example.com/team/app:1.0"
    assert template["imageAuth"] == "auth-team-registry"
    assert template["ports"] == [{"type": "http", "ports": [8000]}]
    assert isinstance(template["createdAt"], str)
    public = api.get("/template", templateId="tpl-public-nginx").json()["template"]
    assert (public["channel"], public["imageAuth"]) == ("official", "")


def test_products_carry_capacity_and_filter_by_cluster_and_name(api):
    products = api.get("/products").json()["data"]

    assert {p["id"]: p["availableDeploy"] for p in products} == {
        "prod-rtx4090-24g": True,
        "prod-a100-80g": True,
        "prod-h100-80g": False,
    }
    for product in products:
        assert set(product) >= set(PRODUCT)
        assert isinstance(product["cpuPerGpu"], int)
    in_europe = api.get("/products", clusterId="cl-eu-de-1").json()["data"]
    assert [p["id"] for p in in_europe] == ["prod-rtx4090-24g"]
    assert [p["id"] for p in api.get("/products", productName="h100").json()["data"]] == ["prod-h100-80g"]


def test_clusters_carry_documented_fields(api):
    clusters = api.get("/clusters").json()["data"]

    assert [c["id"] for c in clusters] == ["cl-us-ca-1", "cl-eu-de-1"]
    for cluster in clusters:
        assert set(cluster) == {
            "id",
            "name",
            "availableGpuType",
            "supportNetworkStorage",
            "supportInstanceNetwork",
        }
