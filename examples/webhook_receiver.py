"""A minimal webhook receiver for novita-orchestrator notifications (standard library + standardwebhooks).

    pip install standardwebhooks
    WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py --port 8000

It verifies every request with the ``standardwebhooks`` library (any of the space-separated
``webhook-signature`` values may match, so secret rotation is seamless; timestamps more than five
minutes off are rejected as stale, which stops replays), answers duplicates of an already handled
``webhook-id`` with 200 without handling them again (deliveries are at-least-once), and prints each
event. Answer 2xx quickly: any other answer, or no answer within the sender's timeout, is retried
later (408/429/5xx) or parked in the dead-letter queue (other 4xx).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

MAX_BODY_BYTES = 1024 * 1024
_SEEN_LIMIT = 10_000  # remember this many recent webhook-ids (keep them in a database in production)


class SeenIds:
    """Recently handled webhook-ids, bounded (a production receiver would use its database)."""

    def __init__(self, limit: int = _SEEN_LIMIT) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def first_time(self, webhook_id: str) -> bool:
        with self._lock:
            if webhook_id in self._ids:
                return False
            self._ids[webhook_id] = None
            if len(self._ids) > self._limit:
                self._ids.popitem(last=False)
            return True


def handle_event(event: dict[str, Any]) -> None:
    """Your code: e.g. start using the instance once the type is instance.startup.completed."""
    data = event.get("data") or {}
    line = f"{event.get('type')}  operation={data.get('operationId')}  instance={data.get('instanceId')}"
    if event.get("type") == "instance.startup.failed":
        error = data.get("error") or {}
        line += f"  error={error.get('code')}: {error.get('message')}"
    print(line, flush=True)


def make_handler(webhook: Webhook, seen: SeenIds) -> type[BaseHTTPRequestHandler]:
    class WebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413, "too large")
                return
            body = self.rfile.read(length)  # verify the raw bytes, before any JSON parsing
            try:
                event = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError as exc:
                self._answer(401, f"rejected: {exc}")  # a bad signature or a stale timestamp
                return
            if seen.first_time(self.headers["webhook-id"]):
                handle_event(event)
            self._answer(200, "ok")

        def _answer(self, status: int, text: str) -> None:
            payload = json.dumps({"status": text}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            print(f"{self.address_string()} {format % args}", file=sys.stderr)

    return WebhookHandler


def serve(secret: str, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A started server (call ``shutdown()`` to stop it)."""
    server = ThreadingHTTPServer((host, port), make_handler(Webhook(secret), SeenIds()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description="Verify and print novita-orchestrator webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        print("set WEBHOOK_SECRET to your whsec_... secret", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Webhook(secret), SeenIds()))
    print(f"listening on http://{args.host}:{server.server_address[1]}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
