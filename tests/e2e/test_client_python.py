"""``novita_orchestrator.client`` as a user runs it: real HTTP to ``serve`` on the embedded stack, through
API Gateway's IAM check (SigV4, verified with botocore) or ``serve --api-key``, and the webhook
verification against the deliveries ``serve``'s dispatcher really sent."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import pytest

from novita_orchestrator.client import (
    Accepted,
    ApiKey,
    Conflict,
    InvalidRequest,
    NoAuth,
    NotAuthorized,
    NotFound,
    OperationFailed,
    OrchestratorClient,
    ServiceUnavailable,
    SigV4,
    WaitTimeout,
    WebhookVerificationFailed,
    verify_webhook,
)
from tests.support.client_kit import (
    ACCESS_KEY,
    API_KEY,
    SECRET_KEY,
    SESSION_TOKEN,
    TIME_SCALE,
    ClientKitStack,
    client_kit_stack,
    new_webhook_secret,
    real_seconds,
)
from tests.support.iam_gateway import REGION
from tests.support.receiver import ReceivedRequest, Receiver

pytestmark = [pytest.mark.timeout(300), pytest.mark.integration]

T = TypeVar("T")
WAIT = 120.0  # real seconds
#: Simulated seconds: far longer than a test runs (an hour is 2 real minutes at the kit's time scale).
LEASE_SECONDS = 3600.0


@pytest.fixture(scope="module")
def kit() -> Iterator[ClientKitStack]:
    with client_kit_stack() as stack:
        yield stack


@pytest.fixture
def stack(kit: ClientKitStack) -> ClientKitStack:
    kit.fresh()
    return kit


@pytest.fixture
def leased(stack: ClientKitStack) -> Iterator[OrchestratorClient]:
    """A client for tests that set a lease on ``inference``; the lease is cancelled afterwards, so its
    watcher stops nothing while a later test uses the instance."""
    client = OrchestratorClient(stack.url)
    yield client
    with contextlib.suppress(NotFound):
        client.change_lease("inference", cancel=True)


def sigv4(secret_key: str = SECRET_KEY) -> SigV4:
    return SigV4(region=REGION, credentials=(ACCESS_KEY, secret_key, SESSION_TOKEN))


def eventually(predicate: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.1)
    return result


def all_arrived(receiver: Receiver, path: str, count: int) -> list[ReceivedRequest] | None:
    got = receiver.requests(path)
    return got if len(got) >= count else None


# --- operations --------------------------------------------------------------------------------


def test_start_by_name_and_wait_returns_the_ready_operation(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)

    accepted = client.start("dev-box", health_check={"port": 8888, "path": "/"})
    operation = client.wait(accepted, timeout=WAIT, poll_interval=0.2)

    assert isinstance(accepted, Accepted)
    assert (accepted.kind, accepted.target, accepted.instance_id) == ("start", "dev-box", "inst-dev-box")
    assert operation.ready and operation.operation_id == accepted.operation_id
    assert operation.instance_id == "inst-dev-box"
    assert operation.notifications[-1] == "instance.startup.completed"
    assert list(operation.phases)[-1] == "ready"
    assert operation.phases["ready"] >= operation.phases["running"]  # datetimes, not strings
    assert client.instance("dev-box").status == "running"


def test_create_from_a_private_template_ends_ready_with_the_private_image(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)

    accepted = client.create(template_id="tpl-private-app", product_id="prod-rtx4090-24g", name="py-made")
    operation = client.wait(accepted, timeout=WAIT, poll_interval=0.2)

    assert operation.ready and operation.kind == "create"
    instance = client.instance("py-made")
    # The simulator fails the pull of a private image unless the create named its registry auth.
    assert instance.image_url == "registry.example.com/team/app:1.0"
    assert instance.status == "running"


def test_create_by_gpu_type_fails_saying_why_when_no_offer_matches(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)
    # The seed's A100 and H100 live in cl-us-ca-1 only; the H100 is listed as not deployable.
    accepted = client.create(
        template_id="tpl-public-nginx", name="py-gpu", gpu={"type": "H100", "regions": ["cl-us-ca-1"]}
    )

    with pytest.raises(OperationFailed) as failed:
        client.wait(accepted, timeout=WAIT, poll_interval=0.2)

    outcome = failed.value.operation.outcome
    assert outcome is not None and outcome.code == "NO_MATCHING_OFFER"
    assert "prod-h100-80g" in outcome.message and "availableDeploy" in outcome.message


def test_follow_yields_each_change_and_ends_with_the_final_state(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)

    seen = list(client.follow(client.start("trainer"), timeout=WAIT, poll_interval=0.1))

    assert seen[-1].ready
    assert [op.notifications for op in seen] == sorted((op.notifications for op in seen), key=len)
    assert len({(op.phase, op.notifications) for op in seen}) == len(seen)  # only changes are yielded


def test_a_failed_operation_raises_operation_failed_with_its_outcome(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)
    accepted = client.create(template_id="tpl-public-nginx", product_id="prod-h100-80g", name="no-capacity")

    with pytest.raises(OperationFailed) as failed:
        client.wait(accepted, timeout=WAIT, poll_interval=0.2)

    operation = failed.value.operation
    assert operation.failed and operation.outcome is not None
    assert operation.outcome.code == "LAUNCH_REFUSED"
    assert "INSUFFICIENT_RESOURCE" in operation.outcome.message
    assert operation.notifications == ("instance.startup.failed",)


def test_a_wait_that_runs_out_raises_wait_timeout_and_the_operation_goes_on(stack: ClientKitStack) -> None:
    stack.simulator.admin.set_config(starting=3 * TIME_SCALE)  # 3 real seconds
    client = OrchestratorClient(stack.url)
    accepted = client.start("dev-box")

    with pytest.raises(WaitTimeout) as timed_out:
        client.wait(accepted, timeout=0.5, poll_interval=0.1)

    assert timed_out.value.operation.status == "running"
    assert client.wait(accepted, timeout=WAIT, poll_interval=0.2).ready


def test_a_stop_is_an_operation_that_ends_stopped_once_novita_has_stopped_it(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)

    accepted = client.stop("inference")
    stopped = client.wait(accepted, timeout=WAIT, poll_interval=0.2)

    assert (accepted.kind, accepted.instance_id) == ("stop", "inst-inference")
    assert (stopped.status, stopped.notifications) == (
        "stopped",
        ("instance.stop.initiated", "instance.stop.completed"),
    )
    assert client.instance("inference").status == "exited"


def test_a_delete_names_the_instance_twice_or_is_refused(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)

    with pytest.raises(InvalidRequest) as refused:
        client.delete("inst-trainer", confirm="not-the-name")
    deleted = client.wait(client.delete("inst-trainer", confirm="trainer"), timeout=WAIT, poll_interval=0.2)

    assert list(refused.value.fields) == ["query:confirm"]
    assert deleted.status == "deleted"


# --- typed errors ------------------------------------------------------------------------------


def test_errors_are_typed_from_the_error_body(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)

    with pytest.raises(NotFound) as unknown:
        client.instance("no-such-box")
    with pytest.raises(NotFound) as no_operation:
        client.operation("op-" + "0" * 32)
    with pytest.raises(Conflict) as ambiguous:
        client.start("twin")
    with pytest.raises(InvalidRequest) as invalid:
        client.create(template_id="tpl-public-nginx", product_id="prod-rtx4090-24g", name="x", gpu_num=9)

    assert (unknown.value.status, unknown.value.code) == (404, "INSTANCE_NOT_FOUND")
    assert no_operation.value.code == "OPERATION_NOT_FOUND"
    assert ambiguous.value.code == "AMBIGUOUS_INSTANCE_NAME" and "inst-twin-a" in ambiguous.value.message
    assert invalid.value.fields == ("gpuNum",)


def test_following_an_operation_the_api_never_knew_ends_with_not_found(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)
    started = time.monotonic()

    with pytest.raises(NotFound):
        client.wait("op-" + "1" * 32, not_found_grace=0.5, poll_interval=0.1)

    assert time.monotonic() - started >= 0.5  # asked again for the grace period first


def test_a_busy_instance_is_a_conflict_naming_the_operation_that_holds_it(stack: ClientKitStack) -> None:
    stack.simulator.admin.set_config(starting=4 * TIME_SCALE)  # 4 real seconds
    client = OrchestratorClient(stack.url)
    first = client.start("dev-box")
    # Once the first operation drives the instance (it holds the lock from ResolveTarget on).
    next(op for op in client.follow(first, timeout=WAIT, poll_interval=0.1) if op.phase == "starting")

    with pytest.raises(Conflict) as busy:
        client.start("dev-box")

    assert busy.value.code == "INSTANCE_BUSY"
    assert busy.value.operation_id == first.operation_id
    assert client.wait(first, timeout=WAIT, poll_interval=0.2).ready


def test_cancel_ends_a_running_operation_cancelled_and_frees_its_instance(stack: ClientKitStack) -> None:
    stack.simulator.admin.set_config(starting=100_000 * TIME_SCALE)  # it would stay starting
    client = OrchestratorClient(stack.url)
    first = client.start("dev-box")
    next(op for op in client.follow(first, timeout=WAIT, poll_interval=0.1) if op.phase == "starting")

    cancelled = client.cancel(first)
    again = client.cancel(first.operation_id)

    assert cancelled.cancelled and not again.cancelled
    assert cancelled.operation.status == "failed"
    assert cancelled.operation.outcome is not None and cancelled.operation.outcome.code == "CANCELLED"
    assert again.operation.outcome == cancelled.operation.outcome
    with pytest.raises(OperationFailed) as failed:
        client.wait(first, timeout=WAIT)
    assert failed.value.operation.outcome is not None and failed.value.operation.outcome.code == "CANCELLED"
    with pytest.raises(NotFound):
        client.cancel("op-" + "0" * 32)
    # Nothing holds the instance any more: a new start is accepted (it boots once time moves on).
    stack.simulator.admin.advance(100_000 * TIME_SCALE)
    assert client.wait(client.start("dev-box"), timeout=WAIT, poll_interval=0.2).ready


# --- auto-stop leases --------------------------------------------------------------------------


def test_a_start_with_an_idle_lease_shows_it_and_each_heartbeat_moves_its_expiry(
    leased: OrchestratorClient,
) -> None:
    accepted = leased.start("inference", auto_stop_idle=LEASE_SECONDS)
    leased.wait(accepted, timeout=WAIT, poll_interval=0.2)

    shown = leased.instance("inference").auto_stop
    time.sleep(0.2)
    first = leased.heartbeat("inference")
    time.sleep(0.2)
    second = leased.heartbeat("inst-inference")

    assert shown is not None and shown.active
    assert shown.operation_id == accepted.operation_id
    assert (shown.idle_seconds, shown.stop_at) == (LEASE_SECONDS, None)
    assert shown.expires_at and first.expires_at and second.expires_at and second.last_heartbeat_at
    assert shown.expires_at < first.expires_at < second.expires_at
    assert second.expires_at == second.last_heartbeat_at + timedelta(seconds=LEASE_SECONDS)
    assert shown.warn_at is not None and shown.warn_at < shown.expires_at
    assert {first.version, second.version} == {shown.version} and second.active
    assert leased.instance("inference").auto_stop == second


def test_a_cancelled_lease_stops_nothing_and_takes_no_heartbeat(leased: OrchestratorClient) -> None:
    accepted = leased.start("inference", auto_stop_after=LEASE_SECONDS)
    leased.wait(accepted, timeout=WAIT, poll_interval=0.2)

    cancelled = leased.change_lease("inference", cancel=True)
    with pytest.raises(NotFound) as no_lease:
        leased.heartbeat("inference")
    with pytest.raises(NotFound) as no_change:
        leased.change_lease("inference", after_seconds=LEASE_SECONDS)

    assert cancelled.state == "cancelled" and not cancelled.active
    assert (no_lease.value.status, no_lease.value.code) == (404, "LEASE_NOT_FOUND")
    assert no_change.value.code == "LEASE_NOT_FOUND"
    shown = leased.instance("inference").auto_stop
    assert shown is not None and (shown.state, shown.operation_id) == ("cancelled", accepted.operation_id)


def test_a_lease_change_moves_the_stop_and_keeps_what_it_does_not_name(leased: OrchestratorClient) -> None:
    leased.wait(
        leased.start("inference", auto_stop_after=2 * LEASE_SECONDS, auto_stop_idle=2 * LEASE_SECONDS),
        timeout=WAIT,
        poll_interval=0.2,
    )

    shortened = leased.change_lease("inference", after_seconds=LEASE_SECONDS)
    idle_changed = leased.change_lease("inference", idle_seconds=LEASE_SECONDS / 2)

    assert shortened.stop_at is not None and shortened.expires_at == shortened.stop_at
    assert shortened.idle_seconds == 2 * LEASE_SECONDS
    assert idle_changed.stop_at == shortened.stop_at and idle_changed.idle_seconds == LEASE_SECONDS / 2
    assert idle_changed.expires_at is not None and idle_changed.expires_at < shortened.stop_at


def test_an_instance_without_a_lease_shows_none_and_a_heartbeat_is_not_found(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)

    with pytest.raises(NotFound) as no_lease:
        client.heartbeat("trainer")

    assert client.instance("trainer").auto_stop is None
    assert no_lease.value.code == "LEASE_NOT_FOUND"


def test_an_auto_stop_shorter_than_the_api_allows_is_refused_naming_the_field(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)

    with pytest.raises(InvalidRequest) as start_refused:
        client.start("dev-box", auto_stop_idle=5)
    with pytest.raises(InvalidRequest) as create_refused:
        client.create(
            template_id="tpl-public-nginx", product_id="prod-rtx4090-24g", name="py-leased", auto_stop_after=5
        )

    assert start_refused.value.fields == ("autoStop.idleSeconds",)
    assert create_refused.value.fields == ("autoStop.afterSeconds",)
    assert stack.simulator.admin.journal(path="/gpu/instance/start", method="POST") == []
    assert stack.simulator.admin.journal(path="/gpu/instance/create", method="POST") == []


# --- retries -----------------------------------------------------------------------------------


def test_a_429_is_retried_after_its_retry_after_and_then_succeeds(stack: ClientKitStack) -> None:
    # Longer than the service's own retry budget (300 in the tests), so the API answers 429: Novita's
    # 400 simulated seconds, which the API says in real seconds (what a caller waits).
    stack.simulator.admin.add_fault(
        kind="rate_limit", method="GET", path="/gpu/instance", retryAfter="400", count=1
    )
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    client = OrchestratorClient(stack.iam_url, sigv4(), max_retry_wait=120, sleep=sleep)

    instance = client.instance("inst-dev-box")

    answers = [(r.status, r.retry_after) for r in stack.gateway.requests]
    assert instance.instance_id == "inst-dev-box"
    assert answers[0] == (429, str(math.ceil(real_seconds(400)))) and answers[-1][0] == 200
    # Each wait is exactly what the refusal before it asked for.
    assert waits == [float(retry_after or 0) for status, retry_after in answers if status == 429]


def test_retries_stop_after_the_limit_and_the_error_says_when_to_come_back(stack: ClientKitStack) -> None:
    stack.simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instance", status=503, count=None)
    waits: list[float] = []
    client = OrchestratorClient(stack.iam_url, sigv4(), retries=2, sleep=waits.append)

    with pytest.raises(ServiceUnavailable) as unavailable:
        client.instance("inst-dev-box")

    answers = [(r.status, r.retry_after) for r in stack.gateway.requests]
    assert [status for status, _ in answers] == [503, 503, 503]  # the first try and 2 retries
    assert waits == [float(retry_after or 0) for _, retry_after in answers[:2]]
    assert unavailable.value.retry_after_seconds == float(answers[-1][1] or 0)


def test_a_longer_retry_after_than_the_client_will_wait_is_raised_at_once(stack: ClientKitStack) -> None:
    stack.simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instance", status=503, count=None)
    waits: list[float] = []
    client = OrchestratorClient(stack.iam_url, sigv4(), max_retry_wait=0.5, sleep=waits.append)

    with pytest.raises(ServiceUnavailable) as unavailable:
        client.instance("inst-dev-box")

    assert len(stack.gateway.requests) == 1 and waits == []
    assert unavailable.value.retry_after_seconds is not None and unavailable.value.retry_after_seconds >= 1


def test_a_retried_start_carries_one_idempotency_key_and_starts_one_operation(stack: ClientKitStack) -> None:
    # Novita fails the name lookup as often as the service's own client tries it: the first API call is 503.
    stack.simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instances", status=503, count=4)
    client = OrchestratorClient(stack.iam_url, sigv4(), sleep=lambda _: None)

    accepted = client.start("dev-box")

    posts = [r for r in stack.gateway.requests if r.method == "POST"]
    assert [r.status for r in posts] == [503, 202]
    assert len({r.headers["Idempotency-Key"] for r in posts}) == 1
    assert client.wait(accepted, timeout=WAIT, poll_interval=0.2).ready
    starts = stack.simulator.admin.journal(path="/gpu/instance/start", method="POST")
    assert len(starts) == 1


def test_a_heartbeat_and_a_lease_change_are_retried_after_a_503(
    leased: OrchestratorClient, stack: ClientKitStack
) -> None:
    leased.wait(leased.start("inference", auto_stop_idle=LEASE_SECONDS), timeout=WAIT, poll_interval=0.2)
    client = OrchestratorClient(stack.iam_url, sigv4(), sleep=lambda _: None)
    # Novita fails the instance lookup as often as the service's own client tries it: the API answers 503.
    stack.simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instance", status=503, count=4)
    beat = client.heartbeat("inst-inference")
    stack.simulator.admin.add_fault(kind="error", method="GET", path="/gpu/instance", status=503, count=4)
    changed = client.change_lease("inst-inference", idle_seconds=2 * LEASE_SECONDS)

    answers = [(r.path, r.status) for r in stack.gateway.requests]
    assert answers == [
        ("/instances/inst-inference/heartbeat", 503),
        ("/instances/inst-inference/heartbeat", 200),
        ("/instances/inst-inference/lease", 503),
        ("/instances/inst-inference/lease", 200),
    ]
    assert beat.active and changed.idle_seconds == 2 * LEASE_SECONDS


# --- auth --------------------------------------------------------------------------------------


def test_sigv4_signed_requests_pass_api_gateways_iam_check(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.iam_url, sigv4())

    assert client.health().status == "ok"
    operation = client.wait(client.start("dev-box"), timeout=WAIT, poll_interval=0.2)
    with pytest.raises(NotFound):  # a name that needs encoding: the signature still matches
        client.instance("café box")

    assert operation.ready
    assert {r.verdict for r in stack.gateway.requests} == {"ok"}
    assert any(r.path == "/instances/caf%C3%A9%20box" for r in stack.gateway.requests)


def test_sigv4_reads_credentials_and_region_from_the_environment(
    stack: ClientKitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)

    assert OrchestratorClient(stack.iam_url, SigV4()).health().status == "ok"
    assert stack.gateway.requests[-1].verdict == "ok"


def test_a_bad_signature_or_none_is_refused_with_403(stack: ClientKitStack) -> None:
    with pytest.raises(NotAuthorized) as wrong_secret:
        OrchestratorClient(stack.iam_url, sigv4("not-the-secret")).health()
    with pytest.raises(NotAuthorized) as unsigned:
        OrchestratorClient(stack.iam_url, NoAuth()).health()

    assert (wrong_secret.value.status, wrong_secret.value.code) == (403, "InvalidSignatureException")
    assert "signature" in wrong_secret.value.message
    assert unsigned.value.message == "Missing Authentication Token"


def test_an_api_key_is_sent_as_x_api_key(stack: ClientKitStack) -> None:
    assert OrchestratorClient(stack.api_key_url, ApiKey(API_KEY)).health().status == "ok"
    with pytest.raises(NotAuthorized) as refused:
        OrchestratorClient(stack.api_key_url, ApiKey("wrong-key")).health()
    assert refused.value.status == 403


# --- webhooks ----------------------------------------------------------------------------------


def test_verify_webhook_accepts_the_deliveries_serve_sent(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)
    with Receiver() as receiver:
        accepted = client.start("dev-box", webhook_url=receiver.url("/py"))
        operation = client.wait(accepted, timeout=WAIT, poll_interval=0.2)
        arrived = eventually(lambda: all_arrived(receiver, "/py", len(operation.notifications)))

    events = [verify_webhook(r.body, r.headers, stack.webhook_secret) for r in arrived]
    rotated = [
        verify_webhook(r.body, r.headers, [new_webhook_secret(), stack.webhook_secret]) for r in arrived
    ]

    assert sorted(e.type for e in events) == sorted(operation.notifications)
    assert {e.operation_id for e in events} == {accepted.operation_id}
    assert len({e.id for e in events}) == len(events)
    assert [e.id for e in rotated] == [e.id for e in events]
    completed = next(e for e in events if e.type == "instance.startup.completed")
    assert (completed.instance_id, completed.phase) == ("inst-dev-box", "ready")


def test_verify_webhook_refuses_what_the_service_did_not_send(stack: ClientKitStack) -> None:
    client = OrchestratorClient(stack.url)
    with Receiver() as receiver:
        client.wait(client.start("dev-box", webhook_url=receiver.url("/py")), timeout=WAIT, poll_interval=0.2)
        delivery = eventually(lambda: receiver.requests("/py")[:1])[0]
    headers = dict(delivery.headers)

    forged = [
        (delivery.body, headers, new_webhook_secret()),  # another secret
        (delivery.body.replace(b"dev-box", b"dev-bux"), headers, stack.webhook_secret),  # altered body
        (delivery.body, {**headers, "webhook-timestamp": str(int(time.time()) - 600)}, stack.webhook_secret),
        (delivery.body, {**headers, "webhook-signature": "garbage"}, stack.webhook_secret),
        (delivery.body, {k: v for k, v in headers.items() if k != "webhook-id"}, stack.webhook_secret),
    ]
    for body, forged_headers, secret in forged:
        with pytest.raises(WebhookVerificationFailed):
            verify_webhook(body, forged_headers, secret)
