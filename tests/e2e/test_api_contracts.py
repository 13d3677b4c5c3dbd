"""Contracts of the REST API a first-hour user runs into, over real HTTP (``serve``'s server).

The status URL of a 202 answers at once; a body that is not JSON is refused with 415 naming the
type; a chunked body arrives whole; malformed operation IDs and wrong methods get the answer REST
clients expect (404 / 405 with ``Allow``); a stop of a stopped instance says so; a ready operation
says what its outcome was.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.e2e.api_support import ServedApi

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


def test_an_event_started_operation_is_readable_when_the_trigger_returns(api: ServedApi):
    event = {
        "id": "5c8a1f3e-0000-4000-8000-0000000000c1",
        "detail-type": "StartInstanceRequested",
        "source": "my.scheduler",
        "detail": {"start": {"ref": "inference"}},
    }
    client = api.engine.boto_client("lambda")
    name = api.engine.resource_name("StartTriggerFunction")

    started = json.loads(client.invoke(FunctionName=name, Payload=json.dumps(event))["Payload"].read())
    status = api.get(f"/operations/{started['operationId']}")

    assert started["started"] is True, started
    assert status.status_code == 200, status.text
    assert api.finished(started["operationId"])["status"] == "ready"
