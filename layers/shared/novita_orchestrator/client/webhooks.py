"""Verify a webhook request from the service and read its event (Standard Webhooks signatures).

Pass the raw body bytes exactly as received (before any JSON parsing) and the request headers.
``secrets`` is the receiver's ``whsec_...`` secret, or several (newest first) while one is rotated;
the request is genuine when any secret matches any of its ``webhook-signature`` values and its
``webhook-timestamp`` is within five minutes of now (older requests are replays).
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from novita_orchestrator.client.errors import ClientConfigurationError, WebhookVerificationFailed
from novita_orchestrator.client.models import Outcome, optional_text, outcome_of, parse_time


@dataclass(frozen=True)
class WebhookEvent:
    """A lifecycle notification: ``instance.startup.initiated`` ... ``.completed`` / ``.failed``.

    ``id`` is the same on every delivery attempt of one event: dedupe on it.
    """

    id: str
    type: str
    timestamp: datetime | None
    operation_id: str | None
    instance_id: str | None
    instance_name: str | None
    phase: str | None
    #: Set on ``instance.startup.failed``.
    error: Outcome | None
    data: Mapping[str, Any] = field(repr=False)
    raw: Mapping[str, Any] = field(repr=False)


def verify_webhook(
    body: bytes | str, headers: Mapping[str, str], secrets: str | Sequence[str]
) -> WebhookEvent:
    """The verified event; raises :class:`WebhookVerificationFailed` for anything not genuine."""
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    if not candidates:
        raise ClientConfigurationError("verify_webhook: no secret given")
    try:
        verifiers = [Webhook(secret) for secret in candidates]
    except (binascii.Error, ValueError, TypeError) as error:
        raise ClientConfigurationError("verify_webhook: a secret is not whsec_<base64>") from error
    plain_headers = {str(name): str(value) for name, value in headers.items()}
    reason = "no secret matched"
    for verifier in verifiers:
        try:
            payload = verifier.verify(body, plain_headers)
        except WebhookVerificationError as error:
            reason = str(error)
            if reason != "No matching signature found":
                break  # missing headers or a stale timestamp: another secret will not help
            continue
        except (ValueError, binascii.Error) as error:  # a malformed signature header or a non-UTF-8 body
            raise WebhookVerificationFailed(f"malformed webhook request: {error}") from error
        return _event(payload)
    raise WebhookVerificationFailed(f"webhook not verified: {reason}")


def _event(payload: Any) -> WebhookEvent:
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
        raise WebhookVerificationFailed("the signed body is not a webhook event (no id)")
    data: dict[str, Any] = payload["data"] if isinstance(payload.get("data"), dict) else {}
    return WebhookEvent(
        id=payload["id"],
        type=str(payload.get("type") or ""),
        timestamp=parse_time(payload.get("timestamp")),
        operation_id=optional_text(data.get("operationId")),
        instance_id=optional_text(data.get("instanceId")),
        instance_name=optional_text(data.get("instanceName")),
        phase=optional_text(data.get("phase")),
        error=outcome_of(data.get("error")),
        data=data,
        raw=payload,
    )
