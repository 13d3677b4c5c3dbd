"""Contracts of the REST API a first-hour user runs into, over real HTTP (``serve``'s server).

The status URL of a 202 answers at once; a body that is not JSON is refused with 415 naming the
type; a chunked body arrives whole; malformed operation IDs and wrong methods get the answer REST
clients expect (404 / 405 with ``Allow``); a stop of a stopped instance says so; a ready operation
says what its outcome was.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.api_support import ServedApi
from tests.support.workflow import TIME_SCALE

pytestmark = [pytest.mark.timeout(300), pytest.mark.integration]


def error_of(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# --- 1: the status URL answers from the moment it is handed out --------------------------------


def test_the_status_url_of_a_202_answers_at_once_every_time(api: ServedApi):
    operation_ids = []
    for _ in range(10):
        accepted = api.post("/instances/trainer/start", json={})
        assert accepted.status_code == 202, accepted.text
        status = api.http.get(accepted.headers["Location"], timeout=30)

        assert status.status_code == 200, status.text
        operation = status.json()
        assert operation["operationId"] == accepted.json()["operationId"]
        assert operation["status"] in {"running", "ready"}
        assert operation["kind"] == "start" and operation["target"] == "trainer"
        operation_ids.append(operation["operationId"])
        # The next start waits for this one (a running operation holds the instance).
        assert api.finished(operation["operationId"])["status"] == "ready"
    assert len(set(operation_ids)) == 10


def test_a_create_is_readable_before_its_workflow_runs(api: ServedApi):
    body = {"templateId": "tpl-public-nginx", "productId": "prod-rtx4090-24g", "name": "contract-made"}
    accepted = api.post("/instances", json=body)

    status = api.http.get(accepted.headers["Location"], timeout=30)

    assert status.status_code == 200, status.text
    assert status.json()["phases"].keys() >= {"resolving"}
    finished = api.finished(accepted.json()["operationId"])
    assert finished["status"] == "ready"
    # The deadline counts from the accept: the record the API wrote is the one the workflow kept.
    assert finished["createdAt"] == status.json()["createdAt"]


# --- 2: a body that is not declared as JSON ------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "{}"),
        ("application/xml", "<start/>"),
        # curl -d '{}' without -H: curl's default type.
        ("application/x-www-form-urlencoded", "{}"),
        ("application/x-www-form-urlencoded", "timeoutSeconds=600"),
        ("multipart/form-data; boundary=x", "--x--"),
    ],
)
def test_a_post_body_that_is_not_json_is_415_naming_the_type(api: ServedApi, content_type: str, body: str):
    response = api.post("/instances/dev-box/start", data=body, headers={"Content-Type": content_type})

    assert response.status_code == 415, response.text
    error = error_of(response)
    assert error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "Content-Type: application/json" in error["message"]
    assert error["fields"] == ["header:Content-Type"]
    assert content_type.split(";")[0] not in error["message"]  # no request value is echoed


def test_a_create_with_a_form_body_is_415_too(api: ServedApi):
    response = api.post("/instances", data={"templateId": "tpl-public-nginx"})  # form-encoded

    assert response.status_code == 415, response.text
    assert "application/json" in error_of(response)["message"]


def test_json_with_a_charset_or_without_a_content_type_is_accepted(api: ServedApi):
    typed = api.post(
        "/instances/trainer/start", data="{}", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert typed.status_code == 202, typed.text
    assert api.finished(typed.json()["operationId"])["status"] == "ready"
    untyped = requests.Request("POST", api.url + "/instances/trainer/start", data=b"{}").prepare()
    untyped.headers.pop("Content-Type", None)
    answer = api.http.send(untyped, timeout=30)
    assert answer.status_code == 202, answer.text
    assert api.finished(answer.json()["operationId"])["status"] == "ready"


# --- 5: a chunked body arrives whole ------------------------------------------------------------


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_request_body_reaches_the_api_whole(api: ServedApi):
    body = json.dumps({"timeoutSeconds": 5}).encode()  # invalid: proves the body was read

    response = api.http.post(
        api.url + "/instances/dev-box/start",
        data=_chunks(body, 4),  # a generator: requests sends it chunked
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 422, response.text
    assert "timeoutSeconds" in error_of(response)["fields"]


def test_a_chunked_start_is_accepted_with_its_options(api: ServedApi):
    body = json.dumps({"timeoutSeconds": 900, "healthCheck": {"path": "/healthz"}}).encode()

    response = api.http.post(
        api.url + "/instances/trainer/start",
        data=_chunks(body, 7),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 202, response.text
    operation_id = response.json()["operationId"]
    assert api.finished(operation_id)["status"] == "ready"
    stepfunctions = api.engine.boto_client("stepfunctions")
    machine = api.engine.resource_arn("StartInstanceStateMachine")
    execution = stepfunctions.describe_execution(
        executionArn=f"{machine.replace(':stateMachine:', ':execution:')}:{operation_id}"
    )
    request = json.loads(execution["input"])["request"]
    assert request["timeoutSeconds"] == 900
    assert request["healthCheck"]["path"] == "/healthz"


def test_broken_chunk_framing_is_400_not_an_empty_body(api: ServedApi):
    parts = urlsplit(api.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.putrequest("POST", "/instances/dev-box/start")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        connection.send(b"zz\r\n{}\r\n0\r\n\r\n")
        response = connection.getresponse()
        assert response.status == 400
        assert b"chunk" in response.read()
    finally:
        connection.close()


# --- 6: operation IDs, methods, stop of a stopped instance, a ready outcome --------------------


@pytest.mark.parametrize("operation_id", ["not-an-operation", "op-123", "OP-" + "A" * 32])
def test_a_malformed_operation_id_is_404_saying_what_an_id_looks_like(api: ServedApi, operation_id: str):
    response = api.get(f"/operations/{operation_id}")

    assert response.status_code == 404, response.text
    error = error_of(response)
    assert error["code"] == "OPERATION_NOT_FOUND"
    assert "op-<32 lowercase hex digits>" in error["message"]
    assert operation_id not in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/operations/op-" + "0" * 32, "GET"),
        ("GET", "/instances/dev-box/start", "POST"),
        ("PUT", "/health", "GET"),
        ("GET", "/instances", "POST"),
    ],
)
def test_a_wrong_method_on_a_known_route_is_405_with_allow(
    api: ServedApi, method: str, path: str, allowed: str
):
    response = api.http.request(method, api.url + path, timeout=30)

    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == allowed
    error = error_of(response)
    assert error["code"] == "METHOD_NOT_ALLOWED"
    assert allowed in error["message"]


def test_an_unknown_path_stays_404(api: ServedApi):
    response = api.http.delete(api.url + "/nowhere", timeout=30)

    assert response.status_code == 404
    assert error_of(response)["code"] == "ROUTE_NOT_FOUND"


def test_a_stop_of_a_stopped_instance_says_it_is_stopped_and_sends_nothing(api: ServedApi):
    before = len(api.simulator.admin.journal(path="/gpu/instance/stop", method="POST"))

    response = api.post("/instances/dev-box/stop")  # dev-box is exited in the default seed

    # A stop is an operation (issue 13): its answer names the instance as it is, never "stopping".
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["kind"], accepted["instanceId"]) == ("stop", "inst-dev-box")
    assert accepted["status"] != "stopping"
    assert api.finished(accepted["operationId"])["status"] == "stopped"
    assert len(api.simulator.admin.journal(path="/gpu/instance/stop", method="POST")) == before


def test_a_ready_operation_shows_its_outcome(api: ServedApi):
    accepted = api.post("/instances/trainer/start", json={})

    operation = api.finished(accepted.json()["operationId"])

    assert operation["status"] == "ready"
    assert operation["outcome"] == {
        "code": "READY",
        "message": "the instance is running and its app answers",
    }


# --- 10: a health port the instance does not map fails at once ----------------------------------


def test_a_health_port_the_instance_does_not_map_fails_at_once_naming_its_ports(api: ServedApi):
    # STARTUP_TIMEOUT_SECONDS is a simulated day here: waiting out the deadline would time this out.
    accepted = api.post("/instances/trainer/start", json={"healthCheck": {"port": 9999}})

    operation = api.finished(accepted.json()["operationId"])

    assert operation["status"] == "failed"
    assert operation["outcome"]["code"] == "HEALTH_PORT_NOT_MAPPED"
    message = operation["outcome"]["message"]
    assert "healthCheck.port 9999" in message and "22/tcp, 6006/http" in message, message
    assert operation["healthChecks"] <= 1
    assert operation["notifications"][-1] == "instance.startup.failed"


# --- Retry-After in real seconds on a time-scaled run ------------------------------------------


def test_retry_after_is_in_real_seconds_under_time_scale(api: ServedApi):
    # Novita asks for 400 simulated seconds (more than a call's budget, 300 in the tests: the API gives
    # up at once); the tests run TIME_SCALE times faster than real time.
    api.simulator.admin.add_fault(
        kind="rate_limit", method="GET", path="/gpu/instance", retryAfter="400", count=1
    )

    response = api.get("/instances/dev-box")

    assert response.status_code == 429, response.text
    expected = max(1, math.ceil(400 / TIME_SCALE))
    assert response.headers["Retry-After"] == str(expected)
    assert error_of(response)["retryAfterSeconds"] == expected
    # Waiting that long (real time) is enough: the deployment's hold-back is over.
    time.sleep(expected + 0.2)
    assert api.get("/instances/dev-box").status_code == 200
