"""The REST API over real HTTP (``novita-orchestrator serve``'s server) on the embedded stack.

Every route, every error status it produces, idempotent repeats and concurrent starts, against the
Novita simulator with the real state machine behind ``StartExecution``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from moto.events.models import EventPattern
from openapi_spec_validator import validate

from novita_local.engine import LocalEngine
from novita_local.serve import ApiServer
from novita_orchestrator.store.executions import execution_arn
from tests.e2e.api_support import ServedApi, serve_environment
from tests.support.ports import free_port
from tests.support.simulator import TEST_API_KEY, Simulator, api_session
from tests.support.workflow import SECRETS

pytestmark = [pytest.mark.timeout(300), pytest.mark.integration]

OPERATION_ID = re.compile(r"^op-[0-9a-f]{32}$")
CREATE = {"templateId": "tpl-public-nginx", "productId": "prod-rtx4090-24g", "name": "api-made"}


def error_of(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def executions_named(engine: LocalEngine, name: str) -> int:
    client = engine.boto_client("stepfunctions")
    machine = engine.resource_arn("StartInstanceStateMachine")
    return sum(1 for e in client.list_executions(stateMachineArn=machine)["executions"] if e["name"] == name)


# --- the document ------------------------------------------------------------------------------


def test_openapi_document_validates_and_lists_every_route(api: ServedApi):
    response = api.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    validate(document)  # raises on an invalid OpenAPI document
    assert set(document["paths"]) == {
        "/instances",
        "/instances/{ref}",
        "/instances/{ref}/start",
        "/instances/{ref}/stop",
        "/instances/{ref}/heartbeat",
        "/instances/{ref}/lease",
        "/operations/{operation_id}",
        "/operations/{operation_id}/cancel",
        "/health",
    }
    assert set(document["paths"]["/instances/{ref}"]) == {"get", "delete"}
    assert "confirm" in {p["name"] for p in document["paths"]["/instances/{ref}"]["delete"]["parameters"]}
    docs = api.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


# --- start, create, read -----------------------------------------------------------------------


def test_start_by_name_answers_202_and_the_operation_ends_ready(api: ServedApi):
    response = api.post("/instances/dev-box/start", json={"healthCheck": {"port": 8888, "path": "/"}})

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert OPERATION_ID.match(accepted["operationId"])
    assert accepted["statusUrl"] == f"{api.url}/operations/{accepted['operationId']}"
    assert response.headers["Location"] == accepted["statusUrl"]
    assert (accepted["kind"], accepted["target"], accepted["instanceId"]) == (
        "start",
        "dev-box",
        "inst-dev-box",
    )

    operation = api.finished(accepted["operationId"])
    assert operation["status"] == "ready", operation
    assert next(iter(operation["phases"])) == "resolving"
    assert "ready" in operation["phases"]
    assert set(operation["phaseDurationsSeconds"]) >= {"resolving", "starting"}
    assert operation["notifications"][0] == "instance.startup.initiated"
    assert operation["notifications"][-1] == "instance.startup.completed"
    assert operation["polls"] >= 1


def test_create_from_a_template_answers_202_and_ends_ready(api: ServedApi):
    response = api.post("/instances", json=CREATE)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["kind"], accepted["target"], accepted["instanceId"]) == ("create", "api-made", None)
    operation = api.finished(accepted["operationId"])
    assert operation["status"] == "ready", operation
    assert operation["instanceName"] == "api-made"
    assert api.simulator.admin.journal(path="/gpu/instance/create", method="POST")


def test_create_by_gpu_type_falls_over_and_shows_the_offers_tried(api: ServedApi):
    api.simulator.admin.set_stock("prod-rtx4090-24g", "cl-us-ca-1", 0)
    body = {
        "templateId": "tpl-public-nginx",
        "name": "api-gpu",
        "gpu": {"type": "RTX 4090", "regions": ["cl-us-ca-1", "cl-eu-de-1"], "maxPricePerHour": 1},
    }
    response = api.post("/instances", json=body)

    assert response.status_code == 202, response.text
    operation = api.finished(response.json()["operationId"])
    assert operation["status"] == "ready", operation
    assert (operation["productId"], operation["offer"]["clusterId"]) == ("prod-rtx4090-24g", "cl-eu-de-1")
    assert [t["clusterId"] for t in operation["offersTried"]] == ["cl-us-ca-1", "cl-eu-de-1"]
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    assert {"type", "count", "regions", "maxPricePerHour", "billing"} <= set(schema["GpuSpec"]["properties"])


def test_a_create_naming_both_product_and_gpu_is_422_naming_them(api: ServedApi):
    body = {"templateId": "t", "name": "n", "productId": "p", "gpu": {"type": "RTX 4090"}}
    response = api.post("/instances", json=body)

    assert response.status_code == 422, response.text
    assert "productId or gpu" in response.text
    assert not api.simulator.admin.journal(path="/gpu/instance/create")


def test_get_instance_shows_it_without_secrets(api: ServedApi):
    response = api.get("/instances/dev-box")

    assert response.status_code == 200, response.text
    instance = response.json()
    assert (instance["instanceId"], instance["name"], instance["status"]) == (
        "inst-dev-box",
        "dev-box",
        "exited",
    )
    assert instance["envNames"] == ["JUPYTER_TOKEN"]
    assert {p["port"] for p in instance["ports"]} == {8888, 22}
    assert instance["runningOperationId"] is None
    for secret in (*SECRETS, "dev-token"):
        assert secret not in response.text


def test_stop_is_an_operation_that_ends_stopped_with_the_instance_exited(api: ServedApi):
    response = api.post("/instances/inference/stop")

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["kind"], accepted["instanceId"], accepted["status"]) == (
        "stop",
        "inst-inference",
        "running",
    )
    assert response.headers["Location"] == accepted["statusUrl"]
    final = api.finished(accepted["operationId"])
    assert final["status"] == "stopped", final
    assert final["notifications"] == ["instance.stop.initiated", "instance.stop.completed"]
    assert len(api.simulator.admin.journal(path="/gpu/instance/stop", method="POST")) == 1
    assert api.get("/instances/inference").json()["status"] == "exited"


def test_a_stop_and_a_start_of_one_instance_at_once_one_is_409_naming_the_other(api: ServedApi):
    api.simulator.admin.set_config(stopping=300.0)  # the stop lasts a few real seconds
    stop = api.post("/instances/inference/stop").json()["operationId"]
    api.wait_until(stop, lambda op: op["phase"] != "resolving" or op["status"] != "running")

    start = api.post("/instances/inst-inference/start")

    assert start.status_code == 409, start.text
    assert error_of(start)["operationId"] == stop
    assert stop in error_of(start)["message"]
    assert api.finished(stop)["status"] == "stopped"


def test_a_start_with_auto_stop_shows_its_lease_and_heartbeats_move_it(api: ServedApi):
    response = api.post("/instances/inference/start", json={"autoStop": {"idleSeconds": 3600}})
    assert response.status_code == 202, response.text
    assert api.finished(response.json()["operationId"])["status"] == "ready"

    shown = api.get("/instances/inference").json()["autoStop"]
    beat = api.post("/instances/inference/heartbeat")
    cancelled = api.post("/instances/inference/lease", json={"cancel": True})

    assert (shown["state"], shown["idleSeconds"]) == ("active", 3600)
    assert beat.status_code == 200 and beat.json()["lastHeartbeatAt"] >= shown["lastHeartbeatAt"]
    assert cancelled.json()["state"] == "cancelled"
    assert api.get("/instances/inference").json()["autoStop"]["state"] == "cancelled"


def test_a_delete_without_the_exact_name_is_422_and_deletes_nothing(api: ServedApi):
    missing = api.http.delete(api.url + "/instances/inst-trainer", timeout=30)
    wrong = api.http.delete(api.url + "/instances/inst-trainer", params={"confirm": "dev-box"}, timeout=30)

    for answer in (missing, wrong):
        assert answer.status_code == 422, answer.text
        assert error_of(answer)["fields"] == ["query:confirm"]
    assert api.simulator.admin.journal(path="/gpu/instance/delete", method="POST") == []
    assert api.get("/instances/inst-trainer").json()["status"] == "exited"


def test_a_delete_repeating_the_name_ends_deleted_once_novita_removed_it(api: ServedApi):
    response = api.http.delete(api.url + "/instances/trainer", params={"confirm": "trainer"}, timeout=30)

    assert response.status_code == 202, response.text
    final = api.finished(response.json()["operationId"])
    assert final["status"] == "deleted", final
    assert final["notifications"] == ["instance.delete.initiated", "instance.delete.completed"]
    assert api.get("/instances/inst-trainer").status_code == 404


def test_health_shows_the_breaker_the_limiter_and_the_dead_letter_depth(api: ServedApi):
    response = api.get("/health")

    assert response.status_code == 200, response.text
    health = response.json()
    assert health["status"] == "ok"
    assert health["resilience"]["enabled"] is True
    assert health["resilience"]["breaker"]["state"] == "CLOSED"
    assert health["resilience"]["rate_limiter"]["burst"] >= 1
    assert health["webhookDeadLetterQueue"] == {"configured": True, "depth": 0}


# --- idempotency and concurrency ---------------------------------------------------------------


def test_a_repeated_idempotency_key_returns_the_same_operation_and_starts_one_execution(api: ServedApi):
    headers = {"Idempotency-Key": "nightly-trainer-1"}
    first = api.post("/instances/trainer/start", json={}, headers=headers)
    second = api.post("/instances/trainer/start", json={}, headers=headers)

    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert second.json() == first.json()
    operation_id = first.json()["operationId"]
    assert executions_named(api.engine, operation_id) == 1
    assert api.finished(operation_id)["status"] == "ready"

    # The same key for another request is refused, naming the header.
    reused = api.post("/instances/dev-box/start", json={}, headers=headers)
    assert reused.status_code == 422
    assert error_of(reused)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert error_of(reused)["fields"] == ["header:Idempotency-Key"]


def test_a_start_while_an_operation_drives_the_instance_is_409_naming_it(api: ServedApi):
    # It stays starting until the end, so the first operation holds the instance however slowly the
    # machine serves the requests below.
    api.simulator.admin.set_config(starting=100_000)
    first = api.post("/instances/dev-box/start").json()["operationId"]
    api.wait_until(first, lambda op: op["phase"] != "resolving" or op["status"] != "running")

    again = api.post("/instances/inst-dev-box/start")
    stop = api.post("/instances/dev-box/stop")

    assert again.status_code == 409, again.text
    assert error_of(again)["code"] == "INSTANCE_BUSY"
    assert error_of(again)["operationId"] == first
    assert first in error_of(again)["message"]
    assert stop.status_code == 409
    assert error_of(stop)["operationId"] == first
    api.simulator.admin.advance(100_000)  # now it boots
    assert api.finished(first)["status"] == "ready"


def execution_status(engine: LocalEngine, machine: str, operation_id: str) -> str:
    client = engine.boto_client("stepfunctions")
    arn = execution_arn(engine.resource_arn(machine), operation_id)
    return str(client.describe_execution(executionArn=arn)["status"])


def bus_events(api: ServedApi) -> tuple[Any, str]:
    """A queue that receives every event on the service's bus from now on (a rule of the test's own)."""
    events, sqs = api.engine.boto_client("events"), api.engine.boto_client("sqs")
    queue_url = sqs.create_queue(QueueName=f"bus-tap-{time.monotonic_ns()}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    bus = api.engine.resource_name("EventBus")
    rule = f"tap-{time.monotonic_ns()}"
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["novita-orchestrator"]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "tap", "Arn": queue_arn["QueueArn"]}])
    return sqs, queue_url


def tapped(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_cancelled_start_ends_cancelled_notified_once_and_the_instance_can_be_stopped(api: ServedApi):
    api.simulator.admin.set_config(starting=100_000)  # it would stay starting for the whole test
    sqs, tap = bus_events(api)
    first = api.post("/instances/dev-box/start", json={"webhook": {"url": "https://hooks.example.com/n"}})
    operation_id = first.json()["operationId"]
    api.wait_until(operation_id, lambda op: op["phase"] == "starting")
    assert api.post("/instances/dev-box/stop").status_code == 409  # the start holds the instance

    cancelled = api.post(f"/operations/{operation_id}/cancel")
    again = api.post(f"/operations/{operation_id}/cancel")

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["cancelled"] is True
    operation = body["operation"]
    assert (operation["status"], operation["outcome"]["code"]) == ("failed", "CANCELLED")
    assert "instance inst-dev-box was not stopped" in operation["outcome"]["message"]
    assert operation["notifications"][-1] == "instance.startup.failed"
    assert execution_status(api.engine, "StartInstanceStateMachine", operation_id) == "ABORTED"
    assert again.status_code == 200 and again.json()["cancelled"] is False
    assert again.json()["operation"]["outcome"]["code"] == "CANCELLED"
    [event] = [e for e in tapped(sqs, tap) if e["detail"].get("operationId") == operation_id]
    assert (event["detail-type"], event["detail"]["error"]["code"]) == ("InstanceStartFailed", "CANCELLED")
    # The instance is free: once it has booted (Novita stops only a running one), a stop of it runs.
    api.simulator.admin.advance(100_000)
    stop = api.post("/instances/dev-box/stop")
    assert stop.status_code == 202, stop.text
    assert api.finished(stop.json()["operationId"])["status"] == "stopped"


def test_a_cancelled_stop_ends_as_a_failed_stop_on_the_stop_workflow(api: ServedApi):
    api.simulator.admin.set_config(stopping=100_000)
    stop = api.post("/instances/inference/stop").json()["operationId"]
    api.wait_until(stop, lambda op: "instance.stop.initiated" in op["notifications"])

    cancelled = api.post(f"/operations/{stop}/cancel")

    assert cancelled.status_code == 200, cancelled.text
    operation = cancelled.json()["operation"]
    assert (operation["status"], operation["outcome"]["code"]) == ("failed", "CANCELLED")
    assert operation["notifications"] == ["instance.stop.initiated", "instance.stop.failed"]
    assert execution_status(api.engine, "StopInstanceStateMachine", stop) == "ABORTED"


def test_a_cancel_of_an_ended_operation_changes_nothing_and_an_unknown_one_is_404(api: ServedApi):
    started = api.post("/instances/inference/start").json()["operationId"]
    assert api.finished(started)["status"] == "ready"

    ended = api.post(f"/operations/{started}/cancel")
    unknown = api.post("/operations/op-" + "0" * 32 + "/cancel")
    malformed = api.post("/operations/not-an-id/cancel")

    assert ended.status_code == 200 and ended.json()["cancelled"] is False
    assert ended.json()["operation"]["status"] == "ready"
    assert (unknown.status_code, error_of(unknown)["code"]) == (404, "OPERATION_NOT_FOUND")
    assert (malformed.status_code, error_of(malformed)["code"]) == (404, "OPERATION_NOT_FOUND")


def test_two_simultaneous_starts_drive_the_instance_once(api: ServedApi):
    answers: list[requests.Response] = []

    def start() -> None:
        answers.append(api.post("/instances/trainer/start"))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    accepted = [a.json()["operationId"] for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 409]
    outcomes = {op_id: api.finished(op_id) for op_id in accepted}
    ready = [op_id for op_id, op in outcomes.items() if op["status"] == "ready"]
    assert len(ready) == 1, outcomes
    # The other one is refused by the API (409 naming the winner) or by the workflow's lock.
    losers = [op for op_id, op in outcomes.items() if op_id not in ready]
    assert len(refused) + len(losers) == 1
    for answer in refused:
        assert error_of(answer)["operationId"] == ready[0]
    for loser in losers:
        assert loser["outcome"]["code"] == "INSTANCE_BUSY"
        assert ready[0] in loser["outcome"]["message"]


# --- every error status ------------------------------------------------------------------------


def test_bad_json_is_400(api: ServedApi):
    response = api.post("/instances", data="{not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert error_of(response)["code"] == "BAD_REQUEST"


def test_a_body_over_the_limit_is_413_naming_the_limit(api: ServedApi):
    body = {**CREATE, "envs": {"BIG": "x" * 20_000}}

    response = api.post("/instances", json=body)

    assert response.status_code == 413
    assert "16384 bytes" in error_of(response)["message"]


def test_unknown_instances_operations_and_routes_are_404(api: ServedApi):
    start = api.post("/instances/no-such-box/start")
    instance = api.get("/instances/no-such-box")
    operation = api.get("/operations/op-" + "0" * 32)
    route = api.get("/nowhere")

    assert [r.status_code for r in (start, instance, operation, route)] == [404, 404, 404, 404]
    assert error_of(start)["code"] == "INSTANCE_NOT_FOUND"
    assert "no-such-box" in error_of(instance)["message"]
    assert error_of(operation)["code"] == "OPERATION_NOT_FOUND"


def test_a_deleted_instance_is_404_instance_removed(api: ServedApi):
    api.simulator.admin.set_config(removing=100_000)  # still being deleted
    with api_session(api.simulator) as novita:
        novita.post(
            api.simulator.base_url + "/gpu/instance/delete", json={"instanceId": "inst-trainer"}, timeout=10
        )

    start = api.post("/instances/inst-trainer/start")
    by_name = api.post("/instances/trainer/start")

    assert start.status_code == 404 and error_of(start)["code"] == "INSTANCE_REMOVED"
    assert by_name.status_code == 404 and error_of(by_name)["code"] == "INSTANCE_NOT_FOUND"


def test_an_ambiguous_name_is_409_listing_the_instances(api: ServedApi):
    response = api.post("/instances/twin/start")

    assert response.status_code == 409
    assert error_of(response)["code"] == "AMBIGUOUS_INSTANCE_NAME"
    assert "inst-twin-a" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/instances", {**CREATE, "gpuNum": 99}, "gpuNum"),
        ("/instances", {"templateId": "tpl-public-nginx"}, "productId"),
        ("/instances", {**CREATE, "surprise": 1}, "surprise"),
        ("/instances/dev-box/start", {"healthCheck": {"path": "no-slash"}}, "healthCheck.path"),
        ("/instances/dev-box/start", {"timeoutSeconds": 1}, "timeoutSeconds"),
    ],
)
def test_an_invalid_field_is_422_naming_it(api: ServedApi, path: str, body: dict[str, Any], field: str):
    response = api.post(path, json=body)

    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "INVALID_REQUEST"
    assert field in error["fields"]


def test_an_unsafe_webhook_url_is_422(api: ServedApi):
    webhook = api.post("/instances/dev-box/start", json={"webhook": {"url": "http://169.254.169.254/hook"}})

    assert webhook.status_code == 422
    assert "webhook.url" in error_of(webhook)["message"]


def test_novita_rate_limiting_is_429_with_retry_after(api: ServedApi):
    # 400 simulated seconds: longer than a call's retry budget (300 in the tests), so it gives up at once.
    api.simulator.admin.add_fault(
        kind="rate_limit", method="GET", path="/gpu/instance", retryAfter="400", count=1
    )

    response = api.get("/instances/dev-box")

    assert response.status_code == 429, response.text
    assert error_of(response)["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1
    assert error_of(response)["retryAfterSeconds"] == int(response.headers["Retry-After"])
    # The whole deployment holds back for Retry-After, then calls go through again.
    deadline = time.monotonic() + 60
    while (after := api.get("/instances/dev-box")).status_code == 429 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert after.status_code == 200


def test_a_novita_outage_is_503_with_retry_after_and_opens_the_breaker(api: ServedApi):
    api.simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instance", status=503, count=None)

    answers = [api.get("/instances/inst-dev-box") for _ in range(3)]

    assert {a.status_code for a in answers} == {503}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers)
    assert {error_of(a)["code"] for a in answers} == {"NOVITA_UNAVAILABLE"}
    assert "circuit breaker" in error_of(answers[-1])["message"]
    health = api.get("/health").json()
    assert health["status"] == "degraded"
    assert health["resilience"]["breaker"]["state"] == "OPEN"


def test_novita_refusing_the_service_key_is_502_not_the_callers_401(api: ServedApi):
    api.simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instance", status=401, count=None)

    response = api.get("/instances/inst-dev-box")

    assert response.status_code == 502
    assert error_of(response)["code"] == "NOVITA_AUTH_REFUSED"
    assert TEST_API_KEY not in response.text


def test_with_an_api_key_a_request_without_it_is_403(api: ServedApi):
    with ApiServer(api.engine, port=0, api_key="local-key", deliver_webhooks=False) as keyed:
        missing = api.http.get(keyed.url + "/health", timeout=30)
        wrong = api.http.get(keyed.url + "/health", headers={"x-api-key": "nope"}, timeout=30)
        right = api.http.get(keyed.url + "/health", headers={"x-api-key": "local-key"}, timeout=30)

    assert (missing.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
    assert missing.json() == {"message": "Forbidden"}


# --- the EventBridge front door ------------------------------------------------------------------


def test_only_start_requests_from_the_configured_sources_reach_the_trigger(api: ServedApi):
    """The rule as the engine created it from the template (StartEventSources' default), matched the
    way the engine's bus matches events: the workflow's own source and any other start nothing."""
    engine = api.engine
    rule = engine.boto_client("events").describe_rule(
        Name=engine.resource_name("StartInstanceRequestedRule"), EventBusName=engine.resource_name("EventBus")
    )
    pattern = EventPattern.load(rule["EventPattern"])  # the bus's own matcher (moto has no TestEventPattern)

    def starts(source: str, detail_type: str = "StartInstanceRequested") -> bool:
        event: Any = {"source": source, "detail-type": detail_type, "detail": {"start": {"ref": "dev-box"}}}
        return bool(pattern.matches_event(event))

    assert starts("novita-orchestrator.client")
    assert not starts("my.app")
    assert not starts("novita-orchestrator")
    assert not starts("novita-orchestrator.client", detail_type="InstanceReady")


def test_a_start_instance_requested_event_starts_one_operation(api: ServedApi):
    event = {
        "id": "5c8a1f3e-0000-4000-8000-000000000001",
        "detail-type": "StartInstanceRequested",
        "source": "my.scheduler",
        "detail": {"start": {"ref": "dev-box"}},
    }
    client = api.engine.boto_client("lambda")
    name = api.engine.resource_name("StartTriggerFunction")

    first = json.loads(client.invoke(FunctionName=name, Payload=json.dumps(event))["Payload"].read())
    # Recorded before its execution started: readable the moment the trigger returns.
    assert api.get(f"/operations/{first['operationId']}").status_code == 200
    again = json.loads(client.invoke(FunctionName=name, Payload=json.dumps(event))["Payload"].read())
    refused = json.loads(
        client.invoke(FunctionName=name, Payload=json.dumps({**event, "id": "x", "detail": {}}))[
            "Payload"
        ].read()
    )

    assert first["started"] is True and OPERATION_ID.match(first["operationId"])
    # A redelivered event names the same execution (Step Functions starts a name once).
    assert again["operationId"] == first["operationId"]
    assert executions_named(api.engine, first["operationId"]) == 1
    assert refused["started"] is False and "exactly one of start, create" in refused["reason"]
    assert api.finished(first["operationId"])["status"] == "ready"


def test_a_create_event_keeps_its_env_values_out_of_the_execution(api: ServedApi, simulator: Simulator):
    value = "trigger-env-value-5Tz"
    event = {
        "id": "5c8a1f3e-0000-4000-8000-000000000002",
        "detail-type": "StartInstanceRequested",
        "source": "my.scheduler",
        "detail": {"create": {**CREATE, "name": "trigger-made", "envs": {"HF_TOKEN": value}}},
    }
    client = api.engine.boto_client("lambda")
    name = api.engine.resource_name("StartTriggerFunction")

    started = json.loads(client.invoke(FunctionName=name, Payload=json.dumps(event))["Payload"].read())

    assert started["started"] is True, started
    assert api.finished(started["operationId"])["status"] == "ready"
    stepfunctions = api.engine.boto_client("stepfunctions")
    [execution] = [
        e
        for e in stepfunctions.list_executions(
            stateMachineArn=api.engine.resource_arn("StartInstanceStateMachine")
        )["executions"]
        if e["name"] == started["operationId"]
    ]
    history = json.dumps(api.engine.execution_history(execution["executionArn"]), default=str)
    assert value not in history and "HF_TOKEN" in history
    [created] = [
        c for c in simulator.admin.journal(path="/gpu/instance/create") if c["body"]["name"] == "trigger-made"
    ]
    assert {"key": "HF_TOKEN", "value": value} in created["body"]["envs"]


def test_a_stop_instance_requested_event_stops_and_no_event_may_delete(api: ServedApi):
    client = api.engine.boto_client("lambda")
    name = api.engine.resource_name("StartTriggerFunction")

    def trigger(detail_type: str, detail: dict[str, Any], event_id: str) -> dict[str, Any]:
        event = {"id": event_id, "detail-type": detail_type, "source": "my.scheduler", "detail": detail}
        answer: dict[str, Any] = json.loads(
            client.invoke(FunctionName=name, Payload=json.dumps(event))["Payload"].read()
        )
        return answer

    stopped = trigger(
        "StopInstanceRequested", {"stop": {"ref": "inference"}}, "5c8a1f3e-0000-4000-8000-00000000000a"
    )
    deleting = trigger(
        "StopInstanceRequested",
        {"delete": {"ref": "trainer", "confirm": "trainer"}},
        "5c8a1f3e-0000-4000-8000-00000000000b",
    )
    crossed = trigger(
        "StartInstanceRequested", {"stop": {"ref": "dev-box"}}, "5c8a1f3e-0000-4000-8000-00000000000c"
    )

    assert stopped["started"] is True
    assert api.finished(stopped["operationId"])["status"] == "stopped"
    assert deleting["started"] is False and "API or the CLI" in deleting["reason"]
    assert crossed["started"] is False and "cannot ask for a stop" in crossed["reason"]
    assert api.simulator.admin.journal(path="/gpu/instance/delete", method="POST") == []


# --- the command -------------------------------------------------------------------------------


def test_the_serve_command_answers_on_the_port_it_prints(simulator):
    env = serve_environment(simulator)
    port = free_port()
    command = str(Path(sys.executable).parent / "novita-orchestrator")
    process = subprocess.Popen(
        [command, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        first_line = process.stderr.readline()
        assert f"http://127.0.0.1:{port}" in first_line, first_line
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=30)
        instance = requests.get(f"http://127.0.0.1:{port}/instances/dev-box", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert instance.json()["instanceId"] == "inst-dev-box"
    finally:
        process.terminate()
        process.wait(timeout=30)
