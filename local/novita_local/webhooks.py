"""Webhook delivery on the embedded stack: the template's dispatcher Lambda drains the webhook queue.

``deliver_notifications`` plays Lambda's SQS poller for ``WebhookDispatcherFunction`` until every
notification of the given operations is delivered or dead-lettered, retries waiting for the
dispatcher's own schedule (a local run's default schedule is short: :data:`LOCAL_RETRY_SCHEDULE`).
``VerifyingReceiver`` is the demo's loopback receiver: it checks every request with the
``standardwebhooks`` library and remembers which operations' events all verified.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from novita_local.engine import LocalEngine
from novita_orchestrator.webhooks.dead_letters import DeadLetters

DISPATCHER_FUNCTION = "WebhookDispatcherFunction"
WEBHOOK_QUEUE = "WebhookQueue"
# Local runs retry within seconds, not hours (WEBHOOK_RETRY_SCHEDULE_SECONDS from the shell wins).
LOCAL_RETRY_SCHEDULE = "1,2,5"
_POLL_SECONDS = 0.2


def with_local_webhook_defaults(environment: Mapping[str, str]) -> dict[str, str]:
    """The functions' environment with a short retry schedule unless one was given."""
    merged = dict(environment)
    merged.setdefault("WEBHOOK_RETRY_SCHEDULE_SECONDS", LOCAL_RETRY_SCHEDULE)
    return merged


def delivery_wait_seconds(environment: Mapping[str, str]) -> float:
    """Long enough for every attempt of the schedule, each taking its full timeout, plus a margin."""
    schedule = environment.get("WEBHOOK_RETRY_SCHEDULE_SECONDS", LOCAL_RETRY_SCHEDULE)
    delays = [int(part) for part in schedule.split(",") if part.strip().isdigit()]
    per_attempt = float(environment.get("WEBHOOK_TIMEOUT_SECONDS", "10")) + 1.0
    return sum(delays) + (len(delays) + 1) * per_attempt + 10.0


def engine_dead_letters(engine: LocalEngine) -> DeadLetters:
    """The engine's webhook dead-letter queue (the template's queues, on the engine)."""
    return DeadLetters(
        engine.boto_client("sqs"),
        dlq_url=engine.queue_url("WebhookDeadLetterQueue"),
        queue_url=engine.queue_url("WebhookQueue"),
    )


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    dead_lettered: int
    pending: int  # still queued when the wait ended (should be 0)

    def as_json(self) -> dict[str, int]:
        return {"delivered": self.delivered, "deadLettered": self.dead_lettered, "pending": self.pending}

    def line(self) -> str:
        text = f"webhooks: {self.delivered} delivered, {self.dead_lettered} dead-lettered"
        return text + (f", {self.pending} still queued" if self.pending else "")


def deliver_notifications(
    engine: LocalEngine,
    operation_ids: Iterable[str],
    *,
    timeout: float = 120.0,
    already_sent: Iterable[str] = (),
) -> DeliveryReport:
    """Run the dispatcher until the operations' notifications have left the webhook queue.

    ``already_sent``: IDs of the operations' messages with a webhook URL that the dispatcher took
    off the queue earlier (delivered while the operation ran, or parked): the report counts them.
    """
    wanted = set(operation_ids)
    deadline = time.monotonic() + timeout
    dead_letters = engine_dead_letters(engine)
    with_url = set(already_sent) | {
        message.message_id
        for message in engine.queue_messages(WEBHOOK_QUEUE)
        if _operation_of(message.body) in wanted and _has_url(message.body)
    }
    while True:
        engine.deliver_queue_messages(DISPATCHER_FUNCTION)
        remaining = [m for m in engine.queue_messages(WEBHOOK_QUEUE) if _operation_of(m.body) in wanted]
        if not remaining or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_SECONDS)  # a retry is hidden until its scheduled time
    parked = [d for d in dead_letters.peek() if d.operation_id in wanted]
    pending = sum(1 for m in remaining if m.message_id in with_url)
    return DeliveryReport(
        delivered=max(0, len(with_url) - len(parked) - pending), dead_lettered=len(parked), pending=pending
    )


def _body(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _operation_of(text: str) -> str | None:
    event = _body(text).get("event")
    data = event.get("data") if isinstance(event, dict) else None
    value = data.get("operationId") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _has_url(text: str) -> bool:
    webhook = _body(text).get("webhook")
    return isinstance(webhook, dict) and bool(webhook.get("url"))


@dataclass
class _Seen:
    verified: int = 0
    rejected: int = 0
    ids: set[str] = field(default_factory=set)


class VerifyingReceiver:
    """A loopback webhook receiver that verifies every request with the standardwebhooks library."""

    def __init__(self, secret: str) -> None:
        self._webhook = Webhook(secret)
        self._lock = threading.Lock()
        self._by_operation: dict[str, _Seen] = {}
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> VerifyingReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._receive(body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="demo-webhook-receiver", daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the receiver is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"

    def _receive(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            event = self._webhook.verify(body, headers)
            verified = True
        except WebhookVerificationError:
            event, verified = _body(body.decode("utf-8", "replace")), False
        data = event.get("data") if isinstance(event, dict) else None
        operation_id = str(data.get("operationId")) if isinstance(data, dict) else "?"
        with self._lock:
            seen = self._by_operation.setdefault(operation_id, _Seen())
            if verified:
                seen.verified += 1
                seen.ids.add(str(event.get("id")))
            else:
                seen.rejected += 1
        return 200 if verified else 401

    def received(self, operation_id: str) -> int:
        with self._lock:
            seen = self._by_operation.get(operation_id, _Seen())
            return seen.verified + seen.rejected

    def signatures_verified(self, operation_id: str, expected_events: int) -> bool:
        """True when each of the operation's events arrived and every request verified."""
        with self._lock:
            seen = self._by_operation.get(operation_id)
            return seen is not None and seen.rejected == 0 and len(seen.ids) == expected_events > 0
