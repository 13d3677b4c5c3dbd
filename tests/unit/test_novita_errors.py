"""How Novita's answers become errors: name first, status second, Retry-After, no secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ReadTimeoutError

from novita_orchestrator.http_headers import parse_retry_after
from novita_orchestrator.novita.error_mapping import (
    error_from_response,
    error_from_transport,
    parse_error_body,
)
from novita_orchestrator.novita.errors import (
    ClientError,
    Conflict,
    Forbidden,
    InsufficientResource,
    NetworkError,
    NotFound,
    NovitaError,
    NovitaTimeout,
    RateLimited,
    Unauthorized,
    UpstreamError,
    ValidationFailed,
)
from tests.support.clock import FakeClock


def kratos(status: int, reason: str, message: str = "something happened") -> str:
    return json.dumps({"code": status, "reason": reason, "message": message, "metadata": {}})


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, kratos(400, "RESOURCE_NOT_FOUND"), NotFound),
        (400, kratos(400, "TEMPLATE_NOT_FOUND"), NotFound),
        (400, kratos(400, "IMAGE_NOT_FOUND"), NotFound),
        (400, kratos(400, "NETWORK_NOT_FOUND"), NotFound),
        (400, kratos(400, "CONFLICT"), Conflict),
        (400, kratos(400, "OPERATION_LIMIT"), Conflict),
        (400, kratos(400, "DEPENDENT_RESOURCE_STATE"), Conflict),
        (400, kratos(400, "CLUSTER_STATUS"), Conflict),
        (400, kratos(400, "NODE_STATUS"), Conflict),
        (400, kratos(400, "INSUFFICIENT_RESOURCE"), InsufficientResource),
        (400, kratos(400, "MIGRATE_INSUFFICIENT_RESOURCE"), InsufficientResource),
        (400, kratos(400, "CREATE_INSTANCE_LIMIT"), InsufficientResource),
        (400, kratos(400, "VALIDATOR_PARAM"), ValidationFailed),
        (400, kratos(400, "REQUEST"), ValidationFailed),
        (400, kratos(400, "INVALID_COMMAND_PARAM"), ValidationFailed),
        (401, kratos(401, "UNAUTHORIZED"), Unauthorized),
        (401, "", Unauthorized),
        (403, kratos(403, "FORBIDDEN"), Forbidden),
        (403, "<html>denied</html>", Forbidden),
        (429, kratos(429, "RATE_LIMIT_EXCEEDED"), RateLimited),
        (400, kratos(400, "RATE_LIMIT_EXCEEDED"), RateLimited),
        (500, kratos(500, "UNKNOWN"), UpstreamError),
        (502, "<html>bad gateway</html>", UpstreamError),
        (503, "", UpstreamError),
        (504, kratos(504, "GATEWAY_TIMEOUT"), UpstreamError),
        (404, "", NotFound),
        (404, kratos(404, "SOMETHING_NEW"), NotFound),
        (409, "", Conflict),
        (422, "", ValidationFailed),
        (400, kratos(400, "SOMETHING_NEW"), ClientError),
        (400, "", ClientError),
        (418, "teapot", ClientError),
        # Nameless bodies, as third-party code sees them from the live API: the message decides.
        (400, json.dumps({"code": 400, "message": "invalid state change"}), Conflict),
        (400, json.dumps({"code": 400, "message": "Instance Not Found"}), NotFound),
        (400, json.dumps({"code": 400, "message": "instance not exist"}), NotFound),
        (400, json.dumps({"code": 400, "message": "template not found"}), NotFound),
        (400, json.dumps({"error": {"message": "the instance is already running"}}), Conflict),
        (
            400,
            json.dumps({"code": 400, "message": "create failed: INSUFFICIENT_RESOURCE"}),
            InsufficientResource,
        ),
        (
            400,
            json.dumps({"code": 400, "message": "Insufficient resources in this region"}),
            InsufficientResource,
        ),
        (400, json.dumps({"code": 400, "message": "invalid parameter productId"}), ValidationFailed),
        (400, json.dumps({"code": 400, "message": "too many requests"}), RateLimited),
        (400, "NOT FOUND", NotFound),
        (400, json.dumps({"code": 400, "message": "something odd happened"}), ClientError),
        # 401, 403, 429 and 5xx are decided by the status whatever the text says.
        (401, json.dumps({"code": 401, "message": "instance not found"}), Unauthorized),
        (403, json.dumps({"code": 403, "message": "invalid state change"}), Forbidden),
        (503, json.dumps({"code": 503, "message": "not found upstream"}), UpstreamError),
        (408, "", NovitaTimeout),
    ],
)
def test_status_and_error_name_decide_the_kind(status: int, body: str, kind: type[NovitaError]) -> None:
    error = error_from_response("get_instance", status, body, None, now=0.0)

    assert type(error) is kind
    assert error.status == status
    assert error.operation == "get_instance"


def test_the_name_wins_over_a_400_status() -> None:
    error = error_from_response(
        "start_instance", 400, kratos(400, "CONFLICT", "instance is running"), None, 0.0
    )

    assert isinstance(error, Conflict)
    assert not error.retryable
    assert "instance is running" in str(error)
    assert "start_instance" in str(error)
    assert "400" in str(error)
    assert "CONFLICT" in str(error)


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (kratos(400, "RESOURCE_NOT_FOUND", "gone"), "RESOURCE_NOT_FOUND", "gone"),
        (
            json.dumps({"error": {"code": "INSUFFICIENT_RESOURCE", "message": "no GPUs"}}),
            "INSUFFICIENT_RESOURCE",
            "no GPUs",
        ),
        (json.dumps({"code": "VALIDATOR_PARAM", "message": "bad port"}), "VALIDATOR_PARAM", "bad port"),
        ("create failed: INSUFFICIENT_RESOURCE in cluster", "INSUFFICIENT_RESOURCE", None),
        ("MIGRATE_INSUFFICIENT_RESOURCE", "MIGRATE_INSUFFICIENT_RESOURCE", None),
        ("Bad REQUEST", None, "Bad REQUEST"),
        ("", None, None),
        ("[1, 2]", None, None),
    ],
)
def test_error_bodies_of_any_shape_are_read(body: str, reason: str | None, message: str | None) -> None:
    found_reason, found_message = parse_error_body(body)

    assert found_reason == reason
    if message is not None:
        assert found_message == message


def test_a_name_found_only_in_free_text_still_decides_the_kind() -> None:
    error = error_from_response("create_instance", 400, "oops: INSUFFICIENT_RESOURCE (try later)", None, 0.0)

    assert isinstance(error, InsufficientResource)
    assert error.reason == "INSUFFICIENT_RESOURCE"


def test_secrets_echoed_by_novita_are_masked_in_the_message() -> None:
    body = kratos(400, "VALIDATOR_PARAM", "bad imageAuth deploy:hunter2-secret with key sk_live_abcdef")

    error = error_from_response(
        "create_instance", 400, body, None, 0.0, secrets={"sk_live_abcdef", "hunter2-secret"}
    )

    assert "hunter2-secret" not in str(error)
    assert "sk_live_abcdef" not in str(error)
    assert "***" in str(error)


def test_long_html_bodies_are_cut_short() -> None:
    error = error_from_response("list_instances", 502, "<html>" + "x" * 5000 + "</html>", None, 0.0)

    assert len(str(error)) < 500


def test_retryable_and_upstream_failure_flags() -> None:
    not_found = error_from_response("get_instance", 400, kratos(400, "RESOURCE_NOT_FOUND"), None, 0.0)
    unavailable = error_from_response("get_instance", 503, "", None, 0.0)
    limited = error_from_response("get_instance", 429, "", "1", 0.0)

    assert not not_found.retryable and not not_found.upstream_failure
    assert unavailable.retryable and unavailable.upstream_failure
    assert limited.retryable and not limited.upstream_failure


class TestRetryAfter:
    def test_seconds(self) -> None:
        assert parse_retry_after("3", now=0.0) == 3.0
        assert parse_retry_after(" 0.5 ", now=0.0) == 0.5
        assert parse_retry_after("0", now=0.0) == 0.0

    def test_http_date_is_relative_to_the_clock(self) -> None:
        clock = FakeClock(start=1_800_000_000.0)
        when = datetime.fromtimestamp(clock.now() + 7, tz=UTC)

        assert parse_retry_after(format_datetime(when, usegmt=True), now=clock.now()) == pytest.approx(7.0)

    def test_http_date_in_the_past_means_now(self) -> None:
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1_800_000_000.0) == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "-5", "nan", "inf", "Wed, 99 Foo 2015"])
    def test_garbage_is_ignored(self, value: str | None) -> None:
        assert parse_retry_after(value, now=0.0) is None

    def test_a_429_carries_the_wait(self) -> None:
        error = error_from_response("list_instances", 429, kratos(429, "RATE_LIMIT_EXCEEDED"), "2", 0.0)

        assert isinstance(error, RateLimited)
        assert error.retry_after == 2.0

    def test_a_429_without_the_header_has_no_wait(self) -> None:
        error = error_from_response("list_instances", 429, "", None, 0.0)

        assert isinstance(error, RateLimited)
        assert error.retry_after is None


class TestTransportErrors:
    def test_timeouts(self) -> None:
        assert isinstance(error_from_transport("get_instance", requests.ReadTimeout("slow")), NovitaTimeout)
        assert isinstance(
            error_from_transport("get_instance", requests.ConnectTimeout("slow")), NovitaTimeout
        )

    def test_a_timeout_while_reading_the_body_is_a_timeout(self) -> None:
        exc = requests.ConnectionError(ReadTimeoutError(None, "/x", "read timed out"))  # type: ignore[arg-type]

        assert isinstance(error_from_transport("get_instance", exc), NovitaTimeout)

    def test_dropped_connections(self) -> None:
        assert isinstance(
            error_from_transport("get_instance", requests.ConnectionError("reset")), NetworkError
        )
        chunked = requests.exceptions.ChunkedEncodingError("cut")
        assert isinstance(error_from_transport("get_instance", chunked), NetworkError)

    @pytest.mark.parametrize(
        ("cause", "said"),
        [
            (
                NewConnectionError(
                    None,  # type: ignore[arg-type]
                    "Failed to establish a new connection: [Errno 111] Connection refused",
                ),
                "connection refused",
            ),
            (
                NameResolutionError("novita.invalid", None, OSError("Name or service not known")),  # type: ignore[arg-type]
                "its host name does not resolve",
            ),
        ],
    )
    def test_no_connection_says_novita_cannot_be_reached_and_where(self, cause: Exception, said: str) -> None:
        exc = requests.ConnectionError(MaxRetryError(None, "/gpu/instance", cause))  # type: ignore[arg-type]

        error = error_from_transport(
            "get_instance", exc, base_url="https://user:pw@novita.example:8443/v1?k=x"
        )

        assert isinstance(error, NetworkError) and not error.request_sent
        assert error.message == (
            f"cannot reach NOVITA_BASE_URL (https://novita.example:8443): {said} (Novita get_instance)"
        )

    def test_other_request_problems_are_not_retried(self) -> None:
        error = error_from_transport("get_instance", requests.exceptions.InvalidURL("bad"))

        assert not error.retryable

    def test_the_api_key_never_shows(self) -> None:
        exc = requests.ConnectionError("failed with Authorization: Bearer sk_live_abcdef")

        error = error_from_transport("get_instance", exc, secrets={"sk_live_abcdef"})

        assert "sk_live_abcdef" not in str(error)
