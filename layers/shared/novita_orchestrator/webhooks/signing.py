"""Standard Webhooks signatures (through the ``standardwebhooks`` library) plus the older headers.

Headers of every attempt:

* ``webhook-id``: the event id, the same on every attempt (receivers dedupe on it);
* ``webhook-timestamp``: the attempt's time in epoch seconds (signed, so a replay is detectable);
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per active secret,
  newest first, space-separated (rotation without losing receivers);
* ``X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` and ``X-Webhook-Timestamp`` for
  receivers written for the older format. That HMAC is keyed with the **newest** secret's full text
  (``whsec_…`` as UTF-8), as such receivers take their secret string as the key; it does not cover
  the timestamp, so prefer the Standard Webhooks signature.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from standardwebhooks import Webhook

from novita_orchestrator.webhooks.secrets import SigningSecrets

USER_AGENT = "novita-orchestrator-webhooks/1"


def standard_signatures(event_id: str, timestamp: int, body: str, secrets: SigningSecrets) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space-separated."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return " ".join(Webhook(secret).sign(event_id, moment, body) for secret in secrets.values)


def compat_signature(body: bytes, secrets: SigningSecrets) -> str:
    """The older ``X-Webhook-Signature`` value, keyed with the newest secret's text."""
    digest = hmac.new(secrets.newest.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(event_id: str, timestamp: int, body: bytes, secrets: SigningSecrets) -> dict[str, str]:
    """Every header of one delivery attempt of ``body`` (UTF-8 JSON) signed at ``timestamp``."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signatures(event_id, timestamp, body.decode("utf-8"), secrets),
        "X-Webhook-Signature": compat_signature(body, secrets),
        "X-Webhook-Timestamp": str(timestamp),
    }
