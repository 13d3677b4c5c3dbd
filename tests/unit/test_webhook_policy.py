"""The delivery policy: which answers are delivered, retried (when) or dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from novita_orchestrator.http_headers import parse_retry_after
from novita_orchestrator.settings import ConfigurationError, WebhookDispatcherSettings
from novita_orchestrator.webhooks.delivery import (
    Action,
    AttemptResult,
    MalformedWebhookMessage,
    RetrySchedule,
    Verdict,
    classify_status,
    decide,
    parse_message,
)

SCHEDULE = RetrySchedule((5, 300, 1800))
NOW = 1_800_000_000.0


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert decide(classify_status(status, None, NOW), 1, SCHEDULE).action is Action.ACK


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses_wait_for_the_schedule(status: int) -> None:
    result = classify_status(status, None, NOW)
    assert result.verdict is Verdict.RETRY
    assert [decide(result, attempt, SCHEDULE).delay_seconds for attempt in (1, 2, 3)] == [5, 300, 1800]
    assert decide(result, 4, SCHEDULE).action is Action.DEAD_LETTER  # the last attempt failed


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422, 301, 302, 307])
def test_other_4xx_and_redirects_are_dead_lettered_at_once(status: int) -> None:
    assert decide(classify_status(status, None, NOW), 1, SCHEDULE).action is Action.DEAD_LETTER


def test_retry_after_seconds_lengthens_the_wait_but_never_shortens_it() -> None:
    longer = classify_status(429, "120", NOW)
    assert decide(longer, 1, SCHEDULE).delay_seconds == 120
    shorter = classify_status(429, "1", NOW)
    assert decide(shorter, 2, SCHEDULE).delay_seconds == 300


def test_retry_after_http_date_and_the_sqs_cap() -> None:
    date = format_datetime(datetime.fromtimestamp(NOW + 600, tz=UTC), usegmt=True)
    assert parse_retry_after(date, NOW) == pytest.approx(600)
    assert decide(classify_status(503, date, NOW), 1, SCHEDULE).delay_seconds == 600
    huge = classify_status(429, "999999", NOW)
    assert decide(huge, 1, SCHEDULE).delay_seconds == 43_200
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_timeouts_and_network_errors_are_retried() -> None:
    for reason in ("timeout", "network_error", "dns_error"):
        decision = decide(AttemptResult(Verdict.RETRY, reason), 1, SCHEDULE)
        assert (decision.action, decision.delay_seconds) == (Action.RETRY, 5)


def load_settings() -> WebhookDispatcherSettings:
    return WebhookDispatcherSettings.load(
        WEBHOOK_QUEUE_URL="https://sqs/q", WEBHOOK_DLQ_URL="https://sqs/dlq", WEBHOOK_SECRET_ARN="arn:secret"
    )


def test_schedule_setting_default_spans_hours_and_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEBHOOK_RETRY_SCHEDULE_SECONDS", raising=False)
    default = RetrySchedule.parse(load_settings().WEBHOOK_RETRY_SCHEDULE_SECONDS)
    assert sum(default.delays) >= 6 * 3600
    assert default.attempts == len(default.delays) + 1
    for bad in ("5,abc", "50000", "5,,6"):
        monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE_SECONDS", bad)
        with pytest.raises(ConfigurationError, match="WEBHOOK_RETRY_SCHEDULE_SECONDS"):
            load_settings()
    # An empty variable counts as unset (as every setting does): the default schedule applies.
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE_SECONDS", "")
    assert RetrySchedule.parse(load_settings().WEBHOOK_RETRY_SCHEDULE_SECONDS) == default


def test_message_parsing() -> None:
    message = parse_message('{"webhook": {"url": "https://x.example/h"}, "event": {"id": "e1", "type": "t"}}')
    assert message.webhook is not None and message.webhook.url == "https://x.example/h"
    assert parse_message('{"webhook": null, "event": {"id": "e1", "type": "t"}}').webhook is None
    for bad in ("not json", '{"webhook": null}', '{"event": {"type": "t"}}'):
        with pytest.raises(MalformedWebhookMessage):
            parse_message(bad)


def test_body_is_the_envelope_unchanged_and_stable() -> None:
    text = (
        '{"webhook":null,"event":{"id":"e1","type":"t","timestamp":"2026-01-01T00:00:00Z","data":{"a":"é"}}}'
    )
    message = parse_message(text)
    assert message.body() == message.body()
    assert (
        message.body().decode()
        == '{"id":"e1","type":"t","timestamp":"2026-01-01T00:00:00Z","data":{"a":"é"}}'
    )
