"""Webhook dispatcher throughput: a 10-message batch delivered concurrently vs one at a time.

The receiver (threaded, loopback) takes 50 ms per request, like a receiver doing a little work. Both
modes use the same dispatcher code, session and signing; only WEBHOOK_MAX_CONCURRENCY differs
(10 vs 1). Rounds alternate between the modes, all in this one run; the ratio is what counts.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.webhooks.delivery import RetrySchedule, WebhookSender, build_session
from novita_orchestrator.webhooks.dispatcher import WebhookDispatcher
from novita_orchestrator.webhooks.secrets import parse_signing_secrets
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from tests.support.receiver import Receiver

BATCH = 10
ROUNDS = 5
RECEIVER_DELAY_SECONDS = 0.05
SECRET = "whsec_" + base64.b64encode(b"benchmark-secret-key-of-32-bytes").decode()


class _UnusedQueue:
    """Every delivery succeeds, so the dispatcher never touches its queues."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected SQS call {name}")


def _dispatcher(concurrency: int) -> WebhookDispatcher:
    secrets = parse_signing_secrets(SECRET, "bench")
    sender = WebhookSender(
        build_session(concurrency), lambda: secrets, policy=UrlPolicy(allow_private=True), timeout_seconds=10
    )
    return WebhookDispatcher(
        sender,
        _UnusedQueue(),
        queue_url="https://sqs.local/q",
        dlq_url="https://sqs.local/dlq",
        schedule=RetrySchedule((5,)),
        max_concurrency=concurrency,
    )


def _batch(url: str, round_number: int) -> dict[str, Any]:
    records = []
    for index in range(BATCH):
        event = {"id": f"evt_bench_{round_number}_{index}", "type": "instance.startup.progress", "data": {}}
        records.append(
            {
                "messageId": f"m-{round_number}-{index}",
                "receiptHandle": f"rh-{round_number}-{index}",
                "body": json.dumps({"webhook": {"url": url}, "event": event}),
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
            }
        )
    return {"Records": records}


def _timed(dispatcher: WebhookDispatcher, event: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = dispatcher.process(event)
    elapsed = time.perf_counter() - started
    if response["batchItemFailures"]:
        raise AssertionError(f"deliveries failed in the benchmark: {response['batchItemFailures']}")
    return elapsed


def run() -> dict[str, object]:
    level = logger.log_level
    logger.setLevel("WARNING")  # one log line per attempt would drown the report
    try:
        return _measure()
    finally:
        logger.setLevel(level)
        metrics.clear_metrics()


def _measure() -> dict[str, object]:
    with Receiver(delay_seconds=RECEIVER_DELAY_SECONDS) as receiver:
        url = receiver.url("/bench")
        batch, sequential = _dispatcher(BATCH), _dispatcher(1)
        _timed(batch, _batch(url, -1))  # warm up connections and imports
        _timed(sequential, _batch(url, -2))
        batch_seconds = sequential_seconds = 0.0
        for round_number in range(ROUNDS):
            batch_seconds += _timed(batch, _batch(url, 2 * round_number))
            sequential_seconds += _timed(sequential, _batch(url, 2 * round_number + 1))
        delivered = len(receiver.requests("/bench"))
    expected = BATCH * (2 * ROUNDS + 2)
    if delivered != expected:
        raise AssertionError(f"the receiver got {delivered} requests, expected {expected}")
    batch_rate = BATCH * ROUNDS / batch_seconds
    sequential_rate = BATCH * ROUNDS / sequential_seconds
    return {
        "webhooks": {
            "batch_deliveries_per_s": round(batch_rate, 1),
            "sequential_deliveries_per_s": round(sequential_rate, 1),
            "batch_vs_sequential_ratio": round(batch_rate / sequential_rate, 2),
        }
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
