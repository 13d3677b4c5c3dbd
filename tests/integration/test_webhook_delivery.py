"""Webhook delivery end to end: the template's WebhookQueue -> the real dispatcher on the local engine ->
a real HTTP receiver on loopback, verified with the standardwebhooks library (not our code)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from novita_local.engine import LocalEngine
from novita_local.webhooks import engine_dead_letters
from tests.support.receiver import Answer, ReceivedRequest, Receiver

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FUNCTION = "WebhookDispatcherFunction"
NEWEST = "whsec_" + base64.b64encode(b"integration-newest-secret-32byte").decode()
OLDER = "whsec_" + base64.b64encode(b"integration-older-secret-32bytes").decode()
SCHEDULE = "1,2"  # three attempts in all; the tests make failed messages visible again at once
EVENT_TYPES = (
    "instance.startup.initiated",
    "instance.startup.progress",
    "instance.startup.health_check.started",
    "instance.startup.completed",
    "instance.startup.failed",
)


@contextmanager
def local_engine(**overrides: str) -> Iterator[LocalEngine]:
    environment = {
        "WEBHOOK_SIGNING_SECRET": f"{NEWEST},{OLDER}",
        "WEBHOOK_RETRY_SCHEDULE_SECONDS": SCHEDULE,
        "WEBHOOK_TIMEOUT_SECONDS": "5",
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",  # the receiver is on loopback
        **overrides,
    }
    environment = {key: value for key, value in environment.items() if value != "<unset>"}
    with LocalEngine(TEMPLATE, environment_overrides=environment) as engine:
        yield engine


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def envelope(event_type: str = "instance.startup.completed") -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "timestamp": "2026-11-26T12:00:00Z",
        "data": {
            "operationId": "op-1",
            "instanceId": "inst-dev-box",
            "instanceName": "dev-box",
            "phase": "ready",
            "phases": {"requested": "2026-11-26T11:58:00Z", "ready": "2026-11-26T12:00:00Z"},
        },
    }


def enqueue(engine: LocalEngine, url: str | None, event: dict[str, Any]) -> None:
    body = {"webhook": {"url": url} if url else None, "event": event}
    engine.boto_client("sqs").send_message(
        QueueUrl=engine.queue_url("WebhookQueue"), MessageBody=json.dumps(body)
    )


def deliver(engine: LocalEngine) -> None:
    """Lambda's poller, with failed messages visible again at once (the schedule itself is unit-tested)."""
    for _ in range(10):
        engine.deliver_queue_messages(FUNCTION, retry_failed_now=True)
        if not engine.queue_messages("WebhookQueue"):
            return
    raise AssertionError("the webhook queue did not drain")


def verify_each_signature_alone(request: ReceivedRequest, secrets: list[str]) -> dict[str, Any]:
    signatures = (request.header("webhook-signature") or "").split(" ")
    assert len(signatures) == len(secrets)
    payload: dict[str, Any] = {}
    for secret, signature in zip(secrets, signatures, strict=True):
        payload = Webhook(secret).verify(request.body, {**request.headers, "webhook-signature": signature})
    return payload


def test_every_event_arrives_signed_once_per_secret(receiver: Receiver) -> None:
    events = [envelope(event_type) for event_type in EVENT_TYPES]
    with local_engine() as engine:
        for event in events:
            enqueue(engine, receiver.url("/hook"), event)
        deliver(engine)
        dead = engine_dead_letters(engine).peek()
    received = receiver.requests("/hook")
    assert sorted(r.header("webhook-id") or "" for r in received) == sorted(e["id"] for e in events)
    for request in received:
        assert request.header("content-type") == "application/json"
        payload = verify_each_signature_alone(request, [NEWEST, OLDER])
        assert payload == next(e for e in events if e["id"] == request.header("webhook-id"))
    assert dead == []


def test_503_twice_then_200_is_delivered_on_the_third_attempt_with_one_webhook_id(receiver: Receiver) -> None:
    receiver.script("/flaky", 503, 503, 200)
    event = envelope()
    with local_engine() as engine:
        enqueue(engine, receiver.url("/flaky"), event)
        deliver(engine)
        dead = engine_dead_letters(engine).peek()
    attempts = receiver.requests("/flaky")
    assert [r.answered for r in attempts] == [503, 503, 200]
    assert {r.header("webhook-id") for r in attempts} == {event["id"]}
    for request in attempts:
        verify_each_signature_alone(request, [NEWEST, OLDER])
    assert dead == []


def test_429_retry_after_sets_the_wait_before_the_next_attempt(receiver: Receiver) -> None:
    receiver.script("/busy", Answer(429, {"Retry-After": "120"}))
    with local_engine() as engine:
        enqueue(engine, receiver.url("/busy"), envelope())
        before = time.time()
        engine.deliver_queue_messages(FUNCTION)  # no early retry: the dispatcher's wait stands
        hidden_for = _seconds_until_visible(engine, "WebhookQueue")
        assert len(engine.queue_messages("WebhookQueue")) == 1  # kept for later, not dropped
        assert engine_dead_letters(engine).peek() == []
    assert len(receiver.requests("/busy")) == 1
    # The schedule says 1 s; the receiver asked for 120 s, and gets at least that.
    assert hidden_for >= 120 - (time.time() - before) - 1


def test_410_goes_to_the_dead_letter_queue_at_once(receiver: Receiver) -> None:
    receiver.script("/gone", 410)
    event = envelope()
    with local_engine() as engine:
        enqueue(engine, receiver.url("/gone"), event)
        deliver(engine)
        dead = engine_dead_letters(engine).peek()
    assert len(receiver.requests("/gone")) == 1
    assert [(d.event_id, d.failure_reason, d.attempts, d.last_status) for d in dead] == [
        (event["id"], "http_410", 1, 410)
    ]


def test_receiver_down_for_the_whole_schedule_is_dead_lettered_then_redriven(receiver: Receiver) -> None:
    event = envelope("instance.startup.failed")
    receiver.stop()  # nothing listens on its port
    with local_engine() as engine:
        enqueue(engine, receiver.url("/hook"), event)
        deliver(engine)
        dead_letters = engine_dead_letters(engine)
        dead = dead_letters.peek()
        assert [(d.event_id, d.failure_reason, d.attempts) for d in dead] == [
            (event["id"], "attempts_exhausted_network_error", 3)
        ]
        assert engine.queue_messages("WebhookQueue") == []

        receiver.start()  # back, on the same port
        result = dead_letters.redrive()
        assert (result.method, result.moved) == ("copy", 1)  # moto has no message-move task
        deliver(engine)
        assert dead_letters.peek() == []
    arrived = receiver.requests("/hook")
    assert [r.header("webhook-id") for r in arrived] == [event["id"]]
    verify_each_signature_alone(arrived[0], [NEWEST, OLDER])


def test_notifications_without_a_webhook_are_acknowledged(receiver: Receiver) -> None:
    with local_engine() as engine:
        enqueue(engine, None, envelope())
        deliver(engine)
        assert engine.queue_messages("WebhookQueue") == []
        assert engine_dead_letters(engine).peek() == []
    assert receiver.requests() == []


def test_private_addresses_are_refused_unless_allowed(receiver: Receiver) -> None:
    with local_engine(ALLOW_PRIVATE_NETWORK_TARGETS="false") as engine:
        enqueue(engine, receiver.url("/hook"), envelope())
        enqueue(engine, "https://127.0.0.1:1/hook", envelope())
        deliver(engine)
        dead = engine_dead_letters(engine).peek()
    assert receiver.requests() == []  # nothing reached loopback
    assert sorted(d.failure_reason or "" for d in dead) == ["url_refused", "url_refused"]


def test_metadata_addresses_are_refused_even_when_private_ones_are_allowed() -> None:
    with local_engine() as engine:
        enqueue(engine, "http://169.254.169.254/latest/meta-data/", envelope())
        enqueue(engine, "http://[fd00:ec2::254]/latest/meta-data/", envelope())
        deliver(engine)
        dead = engine_dead_letters(engine).peek()
    assert [d.failure_reason for d in dead] == ["url_refused", "url_refused"]
    assert {d.attempts for d in dead} == {1}


def test_the_templates_secrets_manager_secret_signs_when_no_local_secret_is_set(receiver: Receiver) -> None:
    with local_engine(WEBHOOK_SIGNING_SECRET="<unset>") as engine:
        secrets = engine.boto_client("secretsmanager")
        value = secrets.get_secret_value(SecretId=engine.resource_arn("WebhookSigningSecret"))["SecretString"]
        enqueue(engine, receiver.url("/hook"), envelope())
        deliver(engine)
    (request,) = receiver.requests("/hook")
    verify_each_signature_alone(request, [f"whsec_{value}"])


def _seconds_until_visible(engine: LocalEngine, queue_logical_id: str) -> float:
    # moto keeps the message's visibility deadline (ms); SQS's API does not expose it.
    from moto.sqs.models import sqs_backends

    place = engine.wiring.place
    queue = sqs_backends[place.account_id][place.region].get_queue(engine.resource_name(queue_logical_id))
    (message,) = list(queue._messages)
    return float(message.visible_at) / 1000 - time.time()


def _example_receiver() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("example_webhook_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_receiver_verifies_dedupes_and_rejects_stale_or_forged_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import requests

    from novita_orchestrator.webhooks.secrets import parse_signing_secrets
    from novita_orchestrator.webhooks.signing import signed_headers

    server = _example_receiver().serve(OLDER, port=0)  # it knows only the older secret: rotation
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        event = envelope("instance.startup.completed")
        with local_engine() as engine:
            enqueue(engine, url, event)
            enqueue(engine, url, event)  # a duplicate delivery of the same event
            deliver(engine)
            assert engine_dead_letters(engine).peek() == []
        handled = [line for line in capsys.readouterr().out.splitlines() if line.startswith("instance.")]
        assert handled == ["instance.startup.completed  operation=op-1  instance=inst-dev-box"]

        body = json.dumps(event).encode()
        secrets = parse_signing_secrets(OLDER, "test")
        stale = signed_headers(event["id"], int(time.time()) - 600, body, secrets)
        forged = signed_headers(event["id"], int(time.time()), body, secrets)
        session = requests.Session()
        session.trust_env = False
        assert session.post(url, data=body, headers=stale, timeout=5).status_code == 401
        assert (
            session.post(
                url, data=body.replace(b"dev-box", b"evil-box"), headers=forged, timeout=5
            ).status_code
            == 401
        )
    finally:
        server.shutdown()
        server.server_close()
