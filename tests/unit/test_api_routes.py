"""The REST API's routes in the unit tier: the module-level resolver with its service swapped through
``app.dependency_overrides``; the service over the in-memory stores, the real Novita client against
the in-process simulator, and a recording stand-in for the Step Functions client."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import requests
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from botocore.exceptions import ClientError, EndpointConnectionError

from novita_local.engine.lambda_patch import LambdaContext
from novita_local.serve import proxy_event
from novita_orchestrator.api.errors import error_answer
from novita_orchestrator.api.routes import api_service, app
from novita_orchestrator.api.service import ApiDeps, ApiService
from novita_orchestrator.api.starter import WorkflowStarter
from novita_orchestrator.clock import SYSTEM_CLOCK, Clock
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.guard import NoGuard
from novita_orchestrator.settings import NovitaSettings
from novita_orchestrator.steps import leases
from novita_orchestrator.steps.status_reader import SharedReadSettings, StatusReader
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from tests.support.clock import FakeClock
from tests.support.simulator import TEST_API_KEY, Simulator
from tests.support.stepfunctions_fake import RecordingStepFunctions
from tests.support.steps import ACCEPTED, novita_for
from tests.support.store_fakes import (
    InMemoryEnvValuesStore,
    InMemoryLeaseStore,
    InMemoryLockStore,
    InMemoryOperationsStore,
)

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:startup"
STOP_STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stop"


@pytest.fixture
def stepfunctions() -> RecordingStepFunctions:
    return RecordingStepFunctions()


def service_over(novita: NovitaClient, clock: Clock, stepfunctions: RecordingStepFunctions) -> ApiService:
    """The API's service over this Novita client, the in-memory stores and the recording Step Functions."""
    operations = InMemoryOperationsStore()
    return ApiService(
        ApiDeps(
            novita=novita,
            reader=StatusReader(novita, None, clock, SharedReadSettings(2.0, 0, 50)),
            guard=NoGuard(),
            operations=operations,
            locks=InMemoryLockStore(),
            starter=WorkflowStarter(
                stepfunctions,
                STATE_MACHINE,
                STOP_STATE_MACHINE,
                operations=operations,
                env_values=InMemoryEnvValuesStore(),
                clock=clock,
            ),
            url_policy=UrlPolicy(allow_private=True),
            clock=clock,
            max_body_bytes=512,
            leases=InMemoryLeaseStore(),
        )
    )


@pytest.fixture
def service(simulator: Simulator, stepfunctions: RecordingStepFunctions) -> Iterator[ApiService]:
    clock = FakeClock()
    built = service_over(novita_for(simulator, clock), clock, stepfunctions)
    app.dependency_overrides[api_service] = lambda: built
    yield built
    app.dependency_overrides.clear()


def test_every_execution_goes_to_one_of_the_two_workflows(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    call("POST", "/instances/dev-box/start")
    call("POST", "/instances/trainer/stop")
    assert set(stepfunctions.machines.values()) == {STATE_MACHINE, STOP_STATE_MACHINE}


def call(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
    remaining_seconds: float = 30,
) -> dict[str, Any]:
    """The API's answer to one request (``raw``: the body's bytes as sent, instead of ``body`` as JSON),
    as the entry answers it: bounded by an invocation with ``remaining_seconds`` left."""
    if raw is None:
        raw = json.dumps(body).encode() if body is not None else b""
    event = proxy_event(
        method=method,
        target=path,
        headers={"Host": "api.example.com", "Content-Type": "application/json", **(headers or {})},
        body=raw,
        source_ip="127.0.0.1",
        host="api.example.com",
        api_key=None,
    )
    context = LambdaContext(
        function_name="api",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:api",
        memory_limit_in_mb=256,
        aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/api",
        log_stream_name="test",
        deadline_monotonic=time.monotonic() + remaining_seconds,
    )
    # The runtime's context, duck-typed; bounded as functions/api/app.py bounds its handler.
    response: dict[str, Any] = bounded_by_invocation(app.resolve)(event, cast(Any, context))
    response["json"] = json.loads(response["body"]) if response.get("body") else None
    return response


def test_a_start_is_accepted_and_its_execution_started(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    answer = call("POST", "/instances/dev-box/start", {"timeoutSeconds": 600})

    assert answer["statusCode"] == 202, answer
    accepted = answer["json"]
    assert accepted["statusUrl"] == f"https://api.example.com/operations/{accepted['operationId']}"
    assert answer["multiValueHeaders"]["Location"] == [accepted["statusUrl"]]
    assert stepfunctions.started[accepted["operationId"]] == {
        "operationId": accepted["operationId"],
        "request": {"start": {"ref": "dev-box"}, "timeoutSeconds": 600.0},
        # The instance this answer names, which the workflow then drives (no snapshot: read just now).
        "accepted": ACCEPTED,
    }


def test_a_start_while_an_operation_holds_the_instance_is_409_naming_it(service: ApiService) -> None:
    service.deps.operations.create(
        operation_id="op-holder", kind="start", target="x", phase="resolving", now=0
    )
    service.deps.locks.acquire("inst-dev-box", operation_id="op-holder", now=0, expires_at=time.time() + 600)

    answer = call("POST", "/instances/dev-box/start")

    assert answer["statusCode"] == 409
    assert answer["json"]["error"]["code"] == "INSTANCE_BUSY"
    assert answer["json"]["error"]["operationId"] == "op-holder"


@pytest.mark.parametrize("raw", [b"\xff", b"\xa0{}"], ids=["not-utf8", "latin1-space"])
def test_a_body_that_is_not_utf8_is_400_not_a_server_error(
    service: ApiService, stepfunctions: RecordingStepFunctions, raw: bytes
) -> None:
    # API Gateway hands such a body over base64-encoded; Powertools' validation cannot decode it.
    for path in ("/instances", "/instances/dev-box/start"):
        answer = call("POST", path, raw=raw)

        assert answer["statusCode"] == 400, answer
        assert answer["json"]["error"]["code"] == "BAD_REQUEST"
        assert "not valid JSON" in answer["json"]["error"]["message"]
    assert stepfunctions.started == {}


def test_an_unknown_operation_is_404(service: ApiService) -> None:
    answer = call("GET", f"/operations/op-{uuid.uuid4().hex}")
    assert (answer["statusCode"], answer["json"]["error"]["code"]) == (404, "OPERATION_NOT_FOUND")


def test_a_body_over_the_limit_is_413_before_anything_starts(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    answer = call(
        "POST", "/instances/dev-box/start", {"webhook": {"url": "https://hooks.example.com/" + "x" * 600}}
    )
    assert (answer["statusCode"], answer["json"]["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert "512 bytes" in answer["json"]["error"]["message"]
    assert stepfunctions.started == {}


def test_an_idempotency_key_without_a_table_is_refused(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    answer = call("POST", "/instances/dev-box/start", {}, headers={"Idempotency-Key": "k-1"})
    assert (answer["statusCode"], answer["json"]["error"]["code"]) == (400, "BAD_REQUEST")
    assert stepfunctions.started == {}


def test_the_docs_page_is_swagger_ui_over_this_apis_document_at_its_stage(service: ApiService) -> None:
    event = proxy_event(
        method="GET",
        target="/docs",
        headers={"Host": "api.example.com"},
        body=b"",
        source_ip="127.0.0.1",
        host="api.example.com",
        api_key=None,
    )
    event["requestContext"]["path"] = "/prod/docs"  # as API Gateway sends it on the stage's URL

    answer = app.resolve(event, cast(Any, None))

    assert answer["statusCode"] == 200
    assert answer["multiValueHeaders"]["Content-Type"] == ["text/html"]
    page = answer["body"]
    assert "SwaggerUIBundle" in page  # Powertools' bundled Swagger UI, inline
    assert '"/operations/{operation_id}"' in page  # this API's document
    assert '"url": "/prod"' in page  # "Try it out" calls the API on its stage


def test_a_slow_novita_is_answered_with_our_json_error_within_the_functions_time(
    simulator: Simulator, stepfunctions: RecordingStepFunctions
) -> None:
    # Novita answers after 40 s; the API function has 8 s left of its invocation. API Gateway would
    # answer a bare 504 past the function's time: the caller gets our 503 with its code before it.
    simulator.admin.add_fault(kind="delay", method="GET", path="/gpu/instance", seconds=40, count=None)
    session = requests.Session()
    session.trust_env = False
    settings = NovitaSettings(
        NOVITA_API_KEY=TEST_API_KEY, NOVITA_BASE_URL=simulator.base_url, NOVITA_RETRY_BASE_SECONDS=0
    )
    # The system clock: the budget is cut by real time passing, as in the function.
    built = service_over(
        NovitaClient(settings, session=session, clock=SYSTEM_CLOCK), SYSTEM_CLOCK, stepfunctions
    )
    app.dependency_overrides[api_service] = lambda: built
    try:
        started = time.monotonic()
        answer = call("POST", "/instances/dev-box/start", {"timeoutSeconds": 600}, remaining_seconds=8)
        took = time.monotonic() - started
    finally:
        app.dependency_overrides.clear()

    assert answer["statusCode"] == 503, answer
    assert answer["json"]["error"]["code"] == "NOVITA_UNAVAILABLE"
    assert took < 8
    assert stepfunctions.started == {}


def test_a_creates_env_values_are_stored_and_only_their_names_start_the_execution(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    create = {"templateId": "tpl-public-nginx", "productId": "prod-rtx4090-24g", "name": "with-envs"}
    answer = call("POST", "/instances", {**create, "envs": {"HF_TOKEN": "hf-kept-out-77"}})

    assert answer["statusCode"] == 202, answer
    operation_id = answer["json"]["operationId"]
    started = stepfunctions.started[operation_id]
    assert "hf-kept-out-77" not in json.dumps(started)
    assert started["storedEnvs"] == {"names": ["HF_TOKEN"]}
    assert "envs" not in started["request"]["create"]
    assert service.deps.starter.env_values.get(operation_id) == {"HF_TOKEN": "hf-kept-out-77"}


def test_the_operation_is_recorded_before_its_execution_starts(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    seen: list[Any] = []
    start_execution = stepfunctions.start_execution

    def start_and_look(**kwargs: Any) -> dict[str, Any]:
        seen.append(service.deps.operations.get(kwargs["name"]))
        return start_execution(**kwargs)

    stepfunctions.start_execution = start_and_look  # type: ignore[method-assign]
    answer = call("POST", "/instances/dev-box/start", {})

    assert answer["statusCode"] == 202, answer
    assert [(r.status, r.phase, r.kind, r.target) for r in seen] == [
        ("running", "resolving", "start", "dev-box")
    ]


def test_an_execution_that_cannot_start_leaves_a_failed_record_not_a_running_one(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    recorded: list[str] = []

    def refuse(**kwargs: Any) -> dict[str, Any]:
        recorded.append(kwargs["name"])
        raise RuntimeError("Step Functions is down")

    stepfunctions.start_execution = refuse  # type: ignore[method-assign]
    answer = call("POST", "/instances/dev-box/start", {})

    assert answer["statusCode"] == 500, answer
    record = service.deps.operations.get(recorded[0])
    assert record is not None
    assert (record.status, record.notifications) == ("failed", [])
    assert record.outcome is not None and record.outcome["code"] == "WORKFLOW_NOT_STARTED"
    # Nothing holds the instance: the next start is accepted.
    stepfunctions.start_execution = RecordingStepFunctions().start_execution  # type: ignore[method-assign]
    assert call("POST", "/instances/dev-box/start", {})["statusCode"] == 202


def _aws_error(code: str, status: int, operation: str = "StartExecution") -> ClientError:
    """What botocore raises when AWS refuses a call (after its own retries)."""
    body = {"Error": {"Code": code, "Message": "quoting arn:aws:states:secret-ish"}}
    return ClientError({**body, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def test_a_throttled_start_execution_answers_503_with_retry_after_and_frees_the_instance(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    def throttled(**kwargs: Any) -> dict[str, Any]:
        raise _aws_error("ThrottlingException", 400)

    stepfunctions.start_execution = throttled  # type: ignore[method-assign]
    answer = call("POST", "/instances/dev-box/start", {})

    assert answer["statusCode"] == 503, answer
    error = answer["json"]["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "StartExecution" in error["message"] and "ThrottlingException" in error["message"]
    assert "arn:aws" not in error["message"]
    assert answer["multiValueHeaders"]["Retry-After"] == [str(error["retryAfterSeconds"])]
    # The retry the caller is told to make is accepted.
    stepfunctions.start_execution = RecordingStepFunctions().start_execution  # type: ignore[method-assign]
    assert call("POST", "/instances/dev-box/start", {})["statusCode"] == 202


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (_aws_error("ExecutionLimitExceeded", 400), 503, "SERVICE_UNAVAILABLE"),
        (_aws_error("InternalFailure", 500), 503, "SERVICE_UNAVAILABLE"),
        (_aws_error("SomethingNew", 502), 503, "SERVICE_UNAVAILABLE"),
        (
            EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com"),
            503,
            "SERVICE_UNAVAILABLE",
        ),
        # This deployment's own mistakes are not the caller's to retry: a 500.
        (_aws_error("AccessDeniedException", 400), 500, "INTERNAL"),
        (_aws_error("StateMachineDoesNotExist", 400), 500, "INTERNAL"),
    ],
)
def test_an_aws_failure_is_503_when_it_is_for_now_and_500_when_it_is_the_deployments(
    service: ApiService, stepfunctions: RecordingStepFunctions, failure: Exception, status: int, code: str
) -> None:
    def refuse(**kwargs: Any) -> dict[str, Any]:
        raise failure

    stepfunctions.start_execution = refuse  # type: ignore[method-assign]
    answer = call("POST", "/instances/dev-box/start", {})

    assert (answer["statusCode"], answer["json"]["error"]["code"]) == (status, code), answer
    assert ("Retry-After" in answer["multiValueHeaders"]) == (status == 503)


def test_a_throttled_idempotency_table_is_503_too() -> None:
    # Powertools wraps its table's errors; the cause decides the answer.
    try:
        try:
            raise _aws_error("ProvisionedThroughputExceededException", 400, "PutItem")
        except ClientError as cause:
            raise IdempotencyPersistenceLayerError("Failed to save in progress record", cause) from cause
    except IdempotencyPersistenceLayerError as wrapped:
        answer = error_answer(wrapped, now=time.time())

    assert (answer.status, answer.body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert "PutItem" in answer.body["error"]["message"]


# --- stop and delete -----------------------------------------------------------------------------


def test_a_stop_is_an_operation_on_the_stop_workflow(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    answer = call("POST", "/instances/dev-box/stop", {"webhook": {"url": "https://hooks.example.com/n"}})

    assert answer["statusCode"] == 202, answer
    accepted = answer["json"]
    assert (accepted["kind"], accepted["target"], accepted["instanceId"]) == (
        "stop",
        "dev-box",
        "inst-dev-box",
    )
    assert answer["multiValueHeaders"]["Location"] == [accepted["statusUrl"]]
    assert stepfunctions.machines[accepted["operationId"]] == STOP_STATE_MACHINE
    started = stepfunctions.started[accepted["operationId"]]
    assert started["request"] == {
        "stop": {"ref": "dev-box"},
        "webhook": {"url": "https://hooks.example.com/n"},
    }


def test_a_stop_while_a_start_holds_the_instance_is_409_naming_it(service: ApiService) -> None:
    service.deps.operations.create(
        operation_id="op-holder", kind="start", target="x", phase="resolving", now=0
    )
    service.deps.locks.acquire("inst-dev-box", operation_id="op-holder", now=0, expires_at=1e12)

    answer = call("POST", "/instances/dev-box/stop")

    assert answer["statusCode"] == 409, answer
    assert answer["json"]["error"]["operationId"] == "op-holder"
    assert "op-holder" in answer["json"]["error"]["message"]


def test_a_stop_asks_for_no_health_check(service: ApiService) -> None:
    answer = call("POST", "/instances/dev-box/stop", {"healthCheck": {"port": 80}})

    assert answer["statusCode"] == 422, answer
    assert answer["json"]["error"]["fields"] == ["healthCheck"]


def test_a_delete_with_the_exact_name_is_accepted_on_the_stop_workflow(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    answer = call("DELETE", "/instances/inst-dev-box?confirm=dev-box")

    assert answer["statusCode"] == 202, answer
    accepted = answer["json"]
    assert accepted["kind"] == "delete"
    assert stepfunctions.machines[accepted["operationId"]] == STOP_STATE_MACHINE
    assert stepfunctions.started[accepted["operationId"]]["request"] == {
        "delete": {"ref": "inst-dev-box", "confirm": "dev-box"}
    }


@pytest.mark.parametrize("query", ["", "?confirm=Dev-box", "?confirm=inst-dev-box", "?confirm="])
def test_a_delete_without_the_exact_name_is_422_and_starts_nothing(
    service: ApiService, stepfunctions: RecordingStepFunctions, query: str
) -> None:
    answer = call("DELETE", f"/instances/inst-dev-box{query}")

    assert answer["statusCode"] == 422, answer
    assert answer["json"]["error"]["fields"] == ["query:confirm"]
    assert stepfunctions.started == {}


# --- auto-stop leases ------------------------------------------------------------------------------


def arm_lease(service: ApiService, **limits: float) -> None:
    assert service.deps.leases is not None
    leases.arm(
        service.deps.leases,
        "inst-dev-box",
        operation_id="op-" + "b" * 32,
        after_seconds=limits.get("after"),
        idle_seconds=limits.get("idle"),
        warn_seconds=60,
        webhook_url=None,
        now=service.deps.clock.now(),
    )


def test_a_start_carries_its_auto_stop_to_the_workflow(
    service: ApiService, stepfunctions: RecordingStepFunctions
) -> None:
    answer = call(
        "POST", "/instances/dev-box/start", {"autoStop": {"afterSeconds": 3600, "idleSeconds": 900}}
    )

    assert answer["statusCode"] == 202, answer
    started = stepfunctions.started[answer["json"]["operationId"]]
    assert started["request"]["autoStop"] == {"afterSeconds": 3600.0, "idleSeconds": 900.0}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/instances/dev-box/start", {"autoStop": {}}, "autoStop"),
        ("/instances/dev-box/start", {"autoStop": {"afterSeconds": 5}}, "autoStop.afterSeconds"),
        ("/instances/dev-box/lease", {}, "body"),
    ],
)
def test_a_bad_auto_stop_is_422_naming_it(service: ApiService, path: str, body: Any, field: str) -> None:
    answer = call("POST", path, body)

    assert answer["statusCode"] == 422, answer
    assert any(name.startswith(field) for name in answer["json"]["error"]["fields"]), answer["json"]


def test_heartbeat_and_lease_change_the_record_and_the_instance_shows_it(service: ApiService) -> None:
    arm_lease(service, idle=600)
    service.deps.clock.advance(120)  # type: ignore[attr-defined]

    beat = call("POST", "/instances/dev-box/heartbeat")
    shown = call("GET", "/instances/inst-dev-box")
    extended = call("POST", "/instances/dev-box/lease", {"afterSeconds": 300})
    cancelled = call("POST", "/instances/dev-box/lease", {"cancel": True})
    after_cancel = call("POST", "/instances/dev-box/heartbeat")

    assert beat["statusCode"] == 200, beat
    assert beat["json"]["state"] == "active"
    assert beat["json"]["lastHeartbeatAt"] == shown["json"]["autoStop"]["lastHeartbeatAt"]
    assert extended["json"]["stopAt"] == extended["json"]["expiresAt"]  # 300 s from now beats 600 s idle
    assert cancelled["json"]["state"] == "cancelled"
    assert after_cancel["statusCode"] == 404
    assert after_cancel["json"]["error"]["code"] == "LEASE_NOT_FOUND"


def test_a_heartbeat_without_a_lease_is_404(service: ApiService) -> None:
    answer = call("POST", "/instances/dev-box/heartbeat")

    assert answer["statusCode"] == 404, answer
    assert answer["json"]["error"]["code"] == "LEASE_NOT_FOUND"
    assert call("GET", "/instances/dev-box")["json"]["autoStop"] is None
