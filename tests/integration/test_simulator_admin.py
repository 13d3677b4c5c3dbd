"""The simulator's admin side: faults, rate limit, journal, reset, clock and the loopback apps."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from novita_local.simulator import Simulator, SimulatorAdminError
from tests.support.ports import free_port, wait_for_port
from tests.support.simulator import TEST_API_KEY, api_session

pytestmark = pytest.mark.integration

START = "/gpu/instance/start"


class Api:
    def __init__(self, simulator: Simulator) -> None:
        self.session = api_session(simulator)
        self.base_url = simulator.base_url

    def get(self, path: str, timeout: float = 10, **params: Any) -> requests.Response:
        return self.session.get(self.base_url + path, params=params, timeout=timeout)

    def post(self, path: str, body: Any, timeout: float = 10) -> requests.Response:
        return self.session.post(self.base_url + path, json=body, timeout=timeout)

    def instance(self, instance_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.get("/gpu/instance", instanceId=instance_id).json()
        return data

    def start(self, instance_id: str) -> requests.Response:
        return self.post(START, {"instanceId": instance_id})


@pytest.fixture
def api(simulator: Simulator) -> Iterator[Api]:
    simulator.admin.set_config(time_scale=0)  # simulated time moves only when a test advances it
    client = Api(simulator)
    yield client
    client.session.close()


def reason_of(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["reason"]


def fresh_connection(simulator: Simulator) -> requests.Session:
    # A dropped connection must not poison the pooled session of other assertions.
    return api_session(simulator)


# --------------------------------------------------------------------------- faults


def test_error_fault_answers_its_status_count_times_then_recovers(api, simulator):
    fault_id = simulator.admin.add_fault(
        kind="error", method="POST", path=START, status=503, reason="UNKNOWN", count=2
    )

    first, second = api.start("inst-dev-box"), api.start("inst-dev-box")
    listed_after_two = simulator.admin.faults()
    third = api.start("inst-dev-box")

    assert reason_of(first) == reason_of(second) == (503, "UNKNOWN")
    assert listed_after_two == []
    assert third.status_code == 200
    assert fault_id.startswith("fault-")


def test_error_fault_is_scoped_to_its_method_and_path_and_counts_down(api, simulator):
    simulator.admin.add_fault(kind="error", path="/gpu/instances", status=403, reason="FORBIDDEN", count=3)

    assert api.get("/clusters").status_code == 200
    assert reason_of(api.get("/gpu/instances")) == (403, "FORBIDDEN")
    (fault,) = simulator.admin.faults()
    described = (fault["kind"], fault["path"], fault["count"], fault["status"])
    assert described == ("error", "/gpu/instances", 2, 403)


def test_unlimited_fault_lasts_until_cleared(api, simulator):
    simulator.admin.add_fault(kind="error", status=500, count=None)

    statuses = [api.get("/clusters").status_code for _ in range(5)]
    simulator.admin.clear_faults()

    assert statuses == [500] * 5
    assert api.get("/clusters").status_code == 200


@pytest.mark.parametrize("retry_after", ["7", "Wed, 21 Oct 2065 07:28:00 GMT"])
def test_rate_limit_fault_sends_retry_after_verbatim(api, simulator, retry_after):
    simulator.admin.add_fault(kind="rate_limit", path="/gpu/instance", retry_after=retry_after)

    response = api.get("/gpu/instance", instanceId="inst-dev-box")

    assert reason_of(response) == (429, "RATE_LIMIT_EXCEEDED")
    assert response.headers["Retry-After"] == retry_after


def test_rate_limit_fault_can_omit_retry_after(api, simulator):
    simulator.admin.add_fault(kind="rate_limit", retryAfter=None)

    response = api.get("/clusters")

    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_delay_fault_outlasts_a_short_client_timeout_then_answers_normally(api, simulator):
    simulator.admin.add_fault(kind="delay", path="/clusters", seconds=3)

    with pytest.raises(requests.exceptions.ReadTimeout):
        fresh_connection(simulator).get(simulator.base_url + "/clusters", timeout=0.3)
    assert api.get("/clusters").status_code == 200


def test_drop_before_loses_the_request_unprocessed(api, simulator):
    simulator.admin.add_fault(kind="drop", path=START, when="before")

    with pytest.raises(requests.exceptions.ConnectionError):
        fresh_connection(simulator).post(simulator.base_url + START, json={"instanceId": "inst-dev-box"})

    assert api.instance("inst-dev-box")["status"] == "exited"
    (entry,) = simulator.admin.journal(path=START)
    assert (entry["status"], entry["fault"]) == (None, "drop")


def test_drop_after_processes_the_request_but_loses_the_response(api, simulator):
    simulator.admin.add_fault(kind="drop", path=START, when="after")

    with pytest.raises(requests.exceptions.ConnectionError):
        fresh_connection(simulator).post(simulator.base_url + START, json={"instanceId": "inst-dev-box"})

    assert api.instance("inst-dev-box")["status"] == "toStart"
    (entry,) = simulator.admin.journal(path=START)
    assert (entry["status"], entry["fault"]) == (200, "drop")


def test_status_error_fault_fails_the_next_start_only(api, simulator):
    simulator.admin.add_fault(kind="status_error", instance_id="inst-dev-box", message="GPU fell off the bus")

    api.start("inst-dev-box")
    simulator.admin.advance(1)
    during = api.instance("inst-dev-box")
    simulator.admin.advance(30)
    failed = api.instance("inst-dev-box")
    api.start("inst-dev-box")
    restarted = api.instance("inst-dev-box")
    simulator.admin.advance(30)

    assert (during["status"], during["statusError"]) == ("toStart", None)
    assert failed["status"] == "exited"
    assert failed["statusError"] == {"state": "failed", "message": "GPU fell off the bus"}
    assert restarted["statusError"] is None
    assert api.instance("inst-dev-box")["status"] == "running"


def test_status_error_fault_by_name_fails_a_create(api, simulator):
    simulator.admin.add_fault(kind="status_error", instance_name="doomed", message="no GPU left in zone")
    body = {
        "name": "doomed",
        "productId": "prod-rtx4090-24g",
        "imageUrl": "nginx:1.27",
        "kind": "gpu",
        "gpuNum": 1,
        "rootfsSize": 20,
    }

    created = api.post("/gpu/instance/create", body).json()["id"]
    simulator.admin.advance(100)

    made = api.instance(created)
    assert made["status"] == "exited"
    assert made["statusError"]["message"] == "no GPU left in zone"


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "explode"},
        {"kind": "error", "status": 200},
        {"kind": "delay"},
        {"kind": "drop", "when": "during"},
        {"kind": "never_healthy"},
        {"kind": "error", "count": 0},
        {"kind": "error", "path": "gpu/instances"},
    ],
)
def test_invalid_faults_are_refused(simulator, fault):
    with pytest.raises(SimulatorAdminError, match="VALIDATOR_PARAM"):
        simulator.admin.add_fault(**fault)
    assert simulator.admin.faults() == []


# --------------------------------------------------------------------------- loopback apps


def http_status(endpoint: str) -> int:
    return requests.get(endpoint + "/health", timeout=5).status_code


def test_http_app_answers_503_until_warmed_up_then_200(api, simulator):
    api.start("inst-dev-box")
    simulator.admin.advance(22.5)  # running now; default warm-up is 10 s
    mappings = {m["port"]: m["endpoint"] for m in api.instance("inst-dev-box")["portMappings"]}

    before = http_status(mappings[8888])
    simulator.admin.advance(10)
    after = requests.get(mappings[8888], timeout=5)

    assert before == 503
    assert (after.status_code, after.json()) == (200, {"status": "ok"})
    assert api.instance("inst-dev-box")["portMappings"][0]["endpoint"] == mappings[8888]  # reused


def test_tcp_port_accepts_connections_and_listeners_close_on_stop(api, simulator):
    api.start("inst-dev-box")
    simulator.admin.advance(40)
    mappings = {m["port"]: m["endpoint"] for m in api.instance("inst-dev-box")["portMappings"]}
    host, port = mappings[22].split(":")
    with socket.create_connection((host, int(port)), timeout=5):
        pass

    api.post("/gpu/instance/stop", {"instanceId": "inst-dev-box"})

    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=5).close()
    with pytest.raises(requests.exceptions.ConnectionError):
        http_status(mappings[8888])
    assert [m["endpoint"] for m in api.instance("inst-dev-box")["portMappings"]] == ["", ""]


def test_never_healthy_app_keeps_answering_503(api, simulator):
    simulator.admin.add_fault(kind="never_healthy", instance_id="inst-inference")
    endpoint = api.instance("inst-inference")["portMappings"][0]["endpoint"]

    simulator.admin.advance(3600)

    assert http_status(endpoint) == 503
    simulator.admin.clear_faults()
    assert http_status(endpoint) == 200


def test_seeded_running_instance_is_already_healthy(api):
    endpoint = api.instance("inst-inference")["portMappings"][0]["endpoint"]

    assert http_status(endpoint) == 200


def test_per_instance_timings_from_the_seed_apply(api, simulator):
    (quick,) = simulator.admin.add_instances(
        [{"name": "quick", "ports": "80/http", "timings": {"toStart": 0, "starting": 1, "appWarmup": 0}}]
    )

    api.start(quick)
    simulator.admin.advance(1.5)

    assert api.instance(quick)["status"] == "running"
    assert http_status(api.instance(quick)["portMappings"][0]["endpoint"]) == 200


# --------------------------------------------------------------------------- global rate limit


def test_global_rate_limit_answers_429_with_retry_after_until_disabled(api, simulator):
    simulator.admin.set_rate_limit(per_second=0.001, burst=2)

    statuses = [api.get("/clusters").status_code for _ in range(2)]
    limited = api.get("/gpu/instances")
    state = simulator.admin.state()  # admin requests are never limited
    simulator.admin.set_rate_limit(None)

    assert statuses == [200, 200]
    assert reason_of(limited) == (429, "RATE_LIMIT_EXCEEDED")
    assert int(limited.headers["Retry-After"]) >= 1
    assert state["rateLimit"] == {"perSecond": 0.001, "burst": 2}
    assert api.get("/clusters").status_code == 200


# --------------------------------------------------------------------------- journal


def test_journal_records_requests_but_never_the_api_key(api, simulator):
    api.get("/gpu/instances", pageSize=5, pageNum=1)
    api.start("inst-dev-box")
    requests.get(simulator.base_url + "/clusters", headers={"Authorization": "Bearer wrong-key"}, timeout=5)
    simulator.admin.state()

    entries = simulator.admin.journal()

    assert [(e["method"], e["path"], e["status"], e["authorized"]) for e in entries] == [
        ("GET", "/gpu/instances", 200, True),
        ("POST", START, 200, True),
        ("GET", "/clusters", 401, False),
    ]
    assert entries[0]["query"] == {"pageSize": "5", "pageNum": "1"}
    assert entries[1]["body"] == {"instanceId": "inst-dev-box"}
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    assert all(isinstance(e["time"], float) and isinstance(e["simTime"], float) for e in entries)
    dumped = json.dumps(entries)
    assert TEST_API_KEY not in dumped and "wrong-key" not in dumped
    assert [e["path"] for e in simulator.admin.journal(method="POST")] == [START]
    simulator.admin.clear_journal()
    assert simulator.admin.journal() == []


def test_a_request_in_flight_across_a_journal_clear_is_not_recorded_after_it(api, simulator):
    simulator.admin.add_fault(kind="delay", path="/clusters", seconds=0.5)
    slow = threading.Thread(target=lambda: fresh_connection(simulator).get(simulator.base_url + "/clusters"))
    slow.start()
    while simulator.admin.faults():  # the delay is consumed once the request has arrived
        time.sleep(0.01)

    simulator.admin.clear_journal()
    slow.join()
    api.get("/products")

    assert [e["path"] for e in simulator.admin.journal()] == ["/products"]


# --------------------------------------------------------------------------- reset, seeding, clock


def test_reset_restores_the_default_seed_and_clears_everything(api, simulator):
    api.start("inst-dev-box")
    simulator.admin.add_fault(kind="error", count=None)
    simulator.admin.set_rate_limit(per_second=1, burst=1)
    simulator.admin.add_instances([{"name": "extra"}])

    simulator.admin.reset()

    state = simulator.admin.state()
    assert [i["id"] for i in state["instances"]] == [
        "inst-dev-box",
        "inst-trainer",
        "inst-inference",
        "inst-twin-a",
        "inst-twin-b",
    ]
    assert state["instances"][0]["status"] == "exited"
    assert state["faults"] == [] and simulator.admin.journal() == []
    assert state["rateLimit"]["perSecond"] is None
    assert state["config"]["timeScale"] == 1.0


def test_reset_with_a_seed_replaces_instances_and_keeps_other_defaults(api, simulator):
    simulator.admin.reset({"instances": [{"id": "only-one", "name": "solo", "status": "running"}]})

    listed = api.get("/gpu/instances").json()

    assert [(i["id"], i["status"]) for i in listed["instances"]] == [("only-one", "running")]
    assert listed["total"] == 1
    assert len(api.get("/products").json()["data"]) == 3


def test_an_invalid_seed_is_refused_and_leaves_state_untouched(simulator):
    simulator.admin.add_instances([{"id": "keep-me"}])

    with pytest.raises(SimulatorAdminError, match="VALIDATOR_PARAM"):
        simulator.admin.reset({"instances": [{"status": "sleeping"}]})

    assert "keep-me" in [i["id"] for i in simulator.admin.state()["instances"]]


def test_added_instances_get_defaults_and_duplicate_ids_are_refused(api, simulator):
    (new_id,) = simulator.admin.add_instances([{"id": "inst-new", "name": "new"}])

    made = api.instance(new_id)
    with pytest.raises(SimulatorAdminError, match="already exists"):
        simulator.admin.add_instances([{"id": "inst-new"}])

    assert (made["status"], made["productId"]) == ("exited", "prod-rtx4090-24g")
    assert made["connectComponentSSH"]["password"] == "ssh-pass-inst-new"


def test_config_changes_timings_of_later_transitions(api, simulator):
    config = simulator.admin.set_config(to_start=0, starting=5)

    api.start("inst-dev-box")
    simulator.admin.advance(4)
    at_four = api.instance("inst-dev-box")["status"]
    simulator.admin.advance(2)

    assert (config["toStart"], config["starting"], config["timeScale"]) == (0, 5, 0)
    assert at_four == "starting"
    assert api.instance("inst-dev-box")["status"] == "running"


def test_advance_moves_simulated_time_by_exactly_the_given_seconds(api, simulator):
    before = simulator.admin.state()["simTime"]

    after = simulator.admin.advance(12.5)

    assert after == pytest.approx(before + 12.5)


def test_a_huge_time_scale_lets_real_time_drive_the_lifecycle(api, simulator):
    simulator.admin.set_config(time_scale=1e9)  # one real nanosecond ~ one simulated second

    api.start("inst-dev-box")

    assert api.instance("inst-dev-box")["status"] == "running"


def test_admin_client_accepts_the_api_base_url(simulator):
    from novita_local.simulator import SimulatorAdmin

    assert SimulatorAdmin(simulator.base_url).url == simulator.url


# --------------------------------------------------------------------------- command line


def test_cli_serves_the_simulator_until_interrupted(tmp_path):
    port = free_port()
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"instances": [{"id": "from-file", "name": "file"}]}))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "novita_local.cli",
            "simulator",
            "--port",
            str(port),
            "--api-key",
            "cli-key",
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port)
        base = f"http://127.0.0.1:{port}/gpu-instance/openapi/v1"
        session = requests.Session()
        session.trust_env = False
        listed = session.get(
            base + "/gpu/instances", headers={"Authorization": "Bearer cli-key"}, timeout=5
        ).json()
        unauthorized = session.get(base + "/gpu/instances", headers={"Authorization": "Bearer x"}, timeout=5)
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)

    assert [i["id"] for i in listed["instances"]] == ["from-file"]
    assert unauthorized.status_code == 401
    assert base in out
    assert process.returncode == 0
