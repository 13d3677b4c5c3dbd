"""Delivery policy: what one POST's outcome means, and when the next attempt happens.

* ``2xx``: delivered.
* ``408``, ``429`` (its ``Retry-After`` honoured), ``5xx``, timeouts, network errors, a host that does
  not resolve: retried after the next delay of WEBHOOK_RETRY_SCHEDULE_SECONDS (attempt n waits
  ``schedule[n-1]``, or longer when the receiver asked for it).
* any other ``4xx``, a redirect (never followed), a URL the guard refuses, a malformed message:
  permanent, to the dead-letter queue at once.
* a retryable failure of the last attempt: the dead-letter queue.

:class:`WebhookSender` makes one attempt: URL guard (again, at delivery time), signing, one POST over
the shared pooled session, bounded by WEBHOOK_TIMEOUT_SECONDS, redirects not followed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from requests.adapters import HTTPAdapter

from novita_orchestrator.clock import SYSTEM_CLOCK, Clock
from novita_orchestrator.http_headers import parse_retry_after
from novita_orchestrator.outbound import Resolver, system_resolver
from novita_orchestrator.webhooks.secrets import SigningSecrets
from novita_orchestrator.webhooks.signing import signed_headers
from novita_orchestrator.webhooks.url_guard import (
    UnresolvableWebhookHost,
    UnsafeWebhookUrl,
    UrlPolicy,
    check_webhook_url,
)

SQS_MAX_VISIBILITY_SECONDS = 43_200
RETRYABLE_STATUSES = frozenset({408, 429})
_MAX_READ_BYTES = 64 * 1024


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class AttemptResult:
    verdict: Verdict
    reason: str  # short and secret-free: "http_503", "timeout", "url_refused", ...
    status_code: int | None = None
    retry_after_seconds: float | None = None
    detail: str = ""  # for logs: never the body, headers or secrets


class Action(StrEnum):
    ACK = "ack"  # delivered (or nothing to deliver): delete from the queue
    RETRY = "retry"  # leave on the queue, visible again after ``delay_seconds``
    DEAD_LETTER = "dead_letter"  # to the DLQ, then delete from the queue


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_seconds: int | None = None


# --- the queue message -------------------------------------------------------------------------


class WebhookTarget(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    url: str = Field(min_length=1, max_length=2048)


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    id: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1)


class WebhookMessage(BaseModel):
    """The webhook queue's message body: ``{"webhook": {"url": ...} | null, "event": <envelope>}``."""

    model_config = ConfigDict(extra="ignore", defer_build=True)
    webhook: WebhookTarget | None = None
    event: EventEnvelope

    def body(self) -> bytes:
        """The bytes POSTed (and signed): the envelope as compact UTF-8 JSON, the same on every attempt."""
        return json.dumps(
            self.event.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False
        ).encode()


class MalformedWebhookMessage(ValueError):
    pass


def parse_message(body: str) -> WebhookMessage:
    try:
        return WebhookMessage.model_validate_json(body)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors())
        raise MalformedWebhookMessage(f"not a webhook message (fields: {fields})") from None


# --- policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrySchedule:
    delays: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> RetrySchedule:
        delays = tuple(int(part) for part in text.split(",") if part.strip())
        if any(d < 0 or d > SQS_MAX_VISIBILITY_SECONDS for d in delays):
            raise ValueError(f"retry delays must be within 0..{SQS_MAX_VISIBILITY_SECONDS} seconds")
        return cls(delays)

    @property
    def attempts(self) -> int:
        """Attempts in all: the first one plus one per delay."""
        return len(self.delays) + 1


def classify_status(status: int, retry_after: str | None, now: float) -> AttemptResult:
    if 200 <= status < 300:
        return AttemptResult(Verdict.DELIVERED, f"http_{status}", status)
    if status in RETRYABLE_STATUSES or status >= 500:
        wait = parse_retry_after(retry_after, now) if status in (429, 503) else None
        return AttemptResult(Verdict.RETRY, f"http_{status}", status, retry_after_seconds=wait)
    if 300 <= status < 400:
        return AttemptResult(Verdict.PERMANENT, f"http_{status}", status, detail="redirects are not followed")
    return AttemptResult(Verdict.PERMANENT, f"http_{status}", status)


def decide(result: AttemptResult, attempt: int, schedule: RetrySchedule) -> Decision:
    """What to do with the message after attempt number ``attempt`` (1-based, SQS receive count)."""
    if result.verdict is Verdict.DELIVERED:
        return Decision(Action.ACK)
    if result.verdict is Verdict.PERMANENT or attempt >= schedule.attempts:
        return Decision(Action.DEAD_LETTER)
    delay = float(schedule.delays[max(attempt, 1) - 1])
    if result.retry_after_seconds is not None:
        delay = max(delay, result.retry_after_seconds)
    return Decision(Action.RETRY, min(SQS_MAX_VISIBILITY_SECONDS, math.ceil(delay)))


# --- one attempt -------------------------------------------------------------------------------


def build_session(pool_size: int) -> requests.Session:
    """One pooled session per process; no transport retries (the queue schedules them)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False  # no proxies or netrc from the environment for outbound webhooks
    return session


class WebhookSender:
    def __init__(
        self,
        session: requests.Session,
        secrets: Callable[[], SigningSecrets],
        *,
        policy: UrlPolicy,
        timeout_seconds: float,
        resolver: Resolver = system_resolver,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._session = session
        self._secrets = secrets
        self._policy = policy
        self._timeout = timeout_seconds
        self._resolver = resolver
        self._clock = clock

    def attempt(self, message: WebhookMessage) -> AttemptResult:
        """POST the event to the message's webhook once; never raises for what the receiver does."""
        if message.webhook is None:
            raise ValueError("the message has no webhook")
        try:
            check_webhook_url(message.webhook.url, self._policy, self._resolver)
        except UnsafeWebhookUrl as exc:
            return AttemptResult(Verdict.PERMANENT, "url_refused", detail=str(exc))
        except UnresolvableWebhookHost as exc:
            return AttemptResult(Verdict.RETRY, "dns_error", detail=str(exc))
        body = message.body()
        headers = signed_headers(message.event.id, int(self._clock.now()), body, self._secrets())
        started = time.monotonic()
        try:
            # stream=True: the answer's body is never read, so a slow body cannot hold the worker.
            with self._session.post(
                message.webhook.url,
                data=body,
                headers=headers,
                timeout=(min(self._timeout, 5.0), self._timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
                if _small_body(response):
                    _ = response.content  # read to the end, so the connection goes back to the pool
        except requests.Timeout:
            return AttemptResult(Verdict.RETRY, "timeout", detail=f"no answer in {self._timeout}s")
        except requests.RequestException as exc:
            return AttemptResult(Verdict.RETRY, "network_error", detail=type(exc).__name__)
        result = classify_status(status, retry_after, self._clock.now())
        elapsed_ms = (time.monotonic() - started) * 1000
        return AttemptResult(
            result.verdict,
            result.reason,
            result.status_code,
            result.retry_after_seconds,
            detail=result.detail or f"{elapsed_ms:.0f} ms",
        )


def _small_body(response: requests.Response) -> bool:
    length = response.headers.get("Content-Length", "")
    return length.isdigit() and int(length) <= _MAX_READ_BYTES


def describe(result: AttemptResult) -> dict[str, Any]:
    """Log fields of an attempt (secret-free)."""
    fields: dict[str, Any] = {"verdict": result.verdict.value, "reason": result.reason}
    if result.status_code is not None:
        fields["status"] = result.status_code
    if result.retry_after_seconds is not None:
        fields["retryAfterSeconds"] = result.retry_after_seconds
    if result.detail:
        fields["detail"] = result.detail
    return fields
