"""Signing, verified with the standardwebhooks library (an implementation the project did not write)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from novita_orchestrator.environment import function_environment
from novita_orchestrator.settings import ConfigurationError, WebhookDispatcherSettings
from novita_orchestrator.webhooks.secrets import load_signing_secrets, parse_signing_secrets
from novita_orchestrator.webhooks.signing import signed_headers

OLD = "whsec_" + base64.b64encode(b"old-secret-key-material-32-bytes").decode()
NEW = "whsec_" + base64.b64encode(b"new-secret-key-material-32-bytes").decode()
BODY = b'{"id":"evt_1","type":"instance.startup.completed","data":{"instanceId":"inst-1"}}'


def test_one_secret_signature_verifies_with_the_library() -> None:
    headers = signed_headers("evt_1", int(time.time()), BODY, parse_signing_secrets(NEW, "test"))
    assert Webhook(NEW).verify(BODY, headers)["id"] == "evt_1"
    assert headers["webhook-id"] == "evt_1"
    assert headers["Content-Type"] == "application/json"


def test_two_secrets_give_two_signatures_each_verifying_alone() -> None:
    headers = signed_headers("evt_1", int(time.time()), BODY, parse_signing_secrets(f"{NEW}, {OLD}", "test"))
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret, signature in ((NEW, signatures[0]), (OLD, signatures[1])):
        alone = {**headers, "webhook-signature": signature}
        Webhook(secret).verify(BODY, alone)
    unknown = "whsec_" + base64.b64encode(b"someone-else-entirely-32-bytes!!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(unknown).verify(BODY, headers)


def test_a_changed_body_or_timestamp_fails_verification() -> None:
    now = int(time.time())
    headers = signed_headers("evt_1", now, BODY, parse_signing_secrets(NEW, "test"))
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY.replace(b"inst-1", b"inst-2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY, {**headers, "webhook-timestamp": str(now + 1)})


def test_stale_timestamp_is_rejected_by_the_library() -> None:
    headers = signed_headers("evt_1", int(time.time()) - 3600, BODY, parse_signing_secrets(NEW, "test"))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(NEW).verify(BODY, headers)


def test_compat_header_is_hex_hmac_of_the_raw_body_keyed_with_the_newest_secret() -> None:
    now = int(time.time())
    headers = signed_headers("evt_1", now, BODY, parse_signing_secrets(f"{NEW},{OLD}", "test"))
    expected = hmac.new(NEW.encode(), BODY, hashlib.sha256).hexdigest()
    assert headers["X-Webhook-Signature"] == f"sha256={expected}"
    assert headers["X-Webhook-Timestamp"] == str(now) == headers["webhook-timestamp"]


def test_secret_without_prefix_is_read_as_the_base64_key() -> None:
    raw = base64.b64encode(b"a-generated-key-of-24by").decode()  # what the template generates: base64 chars
    secrets = parse_signing_secrets(raw, "test")
    assert secrets.values == (f"whsec_{raw}",)
    headers = signed_headers("evt_2", int(time.time()), BODY, secrets)
    Webhook(f"whsec_{raw}").verify(BODY, headers)


@pytest.mark.parametrize("bad", ["whsec_***not-base64***", "whsec_c2hvcnQ=", " , "])
def test_bad_secrets_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_signing_secrets(bad, "WEBHOOK_SIGNING_SECRET")
    assert "WEBHOOK_SIGNING_SECRET" in str(caught.value)
    assert bad.strip(" ,") == "" or bad not in str(caught.value)


def test_setting_wins_over_secrets_manager_and_the_manager_is_read_with_caching() -> None:
    fetched: list[tuple[str, int]] = []

    def fetch(name: str, max_age: int) -> str:
        fetched.append((name, max_age))
        return f"{NEW},{OLD}"

    queues = {"WEBHOOK_QUEUE_URL": "https://sqs/q", "WEBHOOK_DLQ_URL": "https://sqs/dlq"}
    from_setting = WebhookDispatcherSettings(
        **queues, WEBHOOK_SIGNING_SECRET=OLD, WEBHOOK_SECRET_ARN="arn:secret"
    )
    assert load_signing_secrets(from_setting, fetch).values == (OLD,)
    assert fetched == []
    from_manager = WebhookDispatcherSettings(
        **queues, WEBHOOK_SECRET_ARN="arn:secret", WEBHOOK_SECRET_CACHE_SECONDS=60
    )
    assert load_signing_secrets(from_manager, fetch).values == (NEW, OLD)
    assert fetched == [("arn:secret", 60)]
    with pytest.raises(ConfigurationError, match="WEBHOOK_SIGNING_SECRET"), function_environment({}):
        WebhookDispatcherSettings.load(**queues)


def test_secrets_never_show_in_repr() -> None:
    secrets = parse_signing_secrets(NEW, "test")
    assert NEW not in repr(secrets)
    assert NEW.removeprefix("whsec_") not in repr(secrets)
