"""One Retry-After parser: Novita's 429s and a webhook receiver's are read alike."""

from __future__ import annotations

import pytest

from novita_orchestrator.http_headers import parse_retry_after
from novita_orchestrator.novita.error_mapping import error_from_response
from novita_orchestrator.novita.errors import RateLimited
from novita_orchestrator.webhooks.delivery import classify_status

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("1.5", 1.5), (" 0 ", 0.0), ("-3", None), ("nan", None), ("soon", None), (None, None)],
)
def test_the_novita_client_and_the_webhook_dispatcher_read_retry_after_the_same_way(
    value: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(value, NOW) == seconds
    novita = error_from_response("get_instance", 429, "", value, NOW)
    assert isinstance(novita, RateLimited) and novita.retry_after == seconds
    assert classify_status(429, value, NOW).retry_after_seconds == seconds
