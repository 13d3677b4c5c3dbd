"""The dispatcher's bookkeeping with a fake queue: what stays queued, what goes to the DLQ, nothing lost."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from novita_orchestrator.webhooks.delivery import AttemptResult, RetrySchedule, Verdict, WebhookMessage
from novita_orchestrator.webhooks.dispatcher import WebhookDispatcher

QUEUE = "https://sqs.local/123/webhooks"
DLQ = "https://sqs.local/123/webhooks-dlq"


class FakeSqs:
    def __init__(self, *, dlq_fails: bool = False) -> None:
        self.dlq_fails = dlq_fails
        self.sent: list[dict[str, Any]] = []
        self.visibility: dict[str, int] = {}

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        if self.dlq_fails:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "SendMessage")
        self.sent.append(kwargs)
        return {"MessageId": "m"}

    def change_message_visibility(self, **kwargs: Any) -> None:
        self.visibility[kwargs["ReceiptHandle"]] = kwargs["VisibilityTimeout"]


class ScriptedDeliverer:
    """Answers per event id; records which threads delivered."""

    def __init__(self, results: dict[str, AttemptResult], barrier: threading.Barrier | None = None) -> None:
        self.results = results
        self.barrier = barrier
        self.delivered: list[str] = []

    def attempt(self, message: WebhookMessage) -> AttemptResult:
        if self.barrier is not None:
            self.barrier.wait(timeout=5)  # only passes when the whole batch is in flight at once
        self.delivered.append(message.event.id)
        return self.results.get(message.event.id, AttemptResult(Verdict.DELIVERED, "http_200", 200))


def record(
    event_id: str, *, url: str | None = "https://hooks.example/h", receive_count: int = 1
) -> dict[str, Any]:
    body = {
        "webhook": {"url": url} if url else None,
        "event": {"id": event_id, "type": "instance.startup.progress"},
    }
    return {
        "messageId": f"msg-{event_id}",
        "receiptHandle": f"rh-{event_id}",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }


def dispatcher(deliverer: Any, sqs: FakeSqs, concurrency: int = 10) -> WebhookDispatcher:
    return WebhookDispatcher(
        deliverer,
        sqs,
        queue_url=QUEUE,
        dlq_url=DLQ,
        schedule=RetrySchedule((5, 60)),
        max_concurrency=concurrency,
    )


def test_a_batch_is_delivered_concurrently_and_only_retries_are_reported() -> None:
    results = {
        "e2": AttemptResult(Verdict.RETRY, "http_503", 503),
        "e3": AttemptResult(Verdict.PERMANENT, "http_410", 410),
    }
    deliverer = ScriptedDeliverer(results, barrier=threading.Barrier(5))
    sqs = FakeSqs()
    response = dispatcher(deliverer, sqs).process({"Records": [record(f"e{i}") for i in range(1, 6)]})
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-e2"}]
    assert sqs.visibility == {"rh-e2": 5}
    assert [json.loads(m["MessageBody"])["event"]["id"] for m in sqs.sent] == ["e3"]
    assert sqs.sent[0]["QueueUrl"] == DLQ
    assert sqs.sent[0]["MessageAttributes"]["failureReason"]["StringValue"] == "http_410"
    assert sorted(deliverer.delivered) == ["e1", "e2", "e3", "e4", "e5"]


def test_the_last_attempt_goes_to_the_dlq_and_is_acknowledged() -> None:
    sqs = FakeSqs()
    deliverer = ScriptedDeliverer({"e1": AttemptResult(Verdict.RETRY, "timeout")})
    response = dispatcher(deliverer, sqs).process({"Records": [record("e1", receive_count=3)]})
    assert response["batchItemFailures"] == []
    assert sqs.sent[0]["MessageAttributes"]["failureReason"]["StringValue"] == "attempts_exhausted_timeout"
    assert sqs.sent[0]["MessageAttributes"]["attempts"]["StringValue"] == "3"


def test_when_the_dlq_cannot_take_it_the_message_stays_queued() -> None:
    sqs = FakeSqs(dlq_fails=True)
    deliverer = ScriptedDeliverer({"e1": AttemptResult(Verdict.PERMANENT, "http_404", 404)})
    response = dispatcher(deliverer, sqs).process({"Records": [record("e1")]})
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-e1"}]


def test_no_webhook_is_acknowledged_without_a_request_and_garbage_is_dead_lettered() -> None:
    sqs = FakeSqs()
    deliverer = ScriptedDeliverer({})
    garbage = {**record("bad"), "body": "not json"}
    response = dispatcher(deliverer, sqs).process({"Records": [record("e1", url=None), garbage]})
    assert response["batchItemFailures"] == []
    assert deliverer.delivered == []
    assert [m["MessageBody"] for m in sqs.sent] == ["not json"]
    assert sqs.sent[0]["MessageAttributes"]["failureReason"]["StringValue"] == "malformed_message"


def test_a_whole_failed_batch_is_reported_item_by_item_not_raised() -> None:
    sqs = FakeSqs()
    failing = {f"e{i}": AttemptResult(Verdict.RETRY, "network_error") for i in range(3)}
    response = dispatcher(ScriptedDeliverer(failing), sqs, concurrency=1).process(
        {"Records": [record(f"e{i}") for i in range(3)]}
    )
    assert len(response["batchItemFailures"]) == 3


class OrderWatchingDeliverer:
    """Delivers slowly, noting each operation's delivery order and how many deliveries overlap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.order: dict[str, list[str]] = {}
        self.in_flight: dict[str, int] = {}
        self.most_in_flight_per_operation = 0
        self.most_in_flight = 0

    def attempt(self, message: WebhookMessage) -> AttemptResult:
        data = getattr(message.event, "data", {})
        operation = data["operationId"]
        with self._lock:
            self.in_flight[operation] = self.in_flight.get(operation, 0) + 1
            self.most_in_flight_per_operation = max(
                self.most_in_flight_per_operation, self.in_flight[operation]
            )
            self.most_in_flight = max(self.most_in_flight, sum(self.in_flight.values()))
        time.sleep(0.05)
        with self._lock:
            self.in_flight[operation] -= 1
            self.order.setdefault(operation, []).append(message.event.type.rsplit(".", 1)[-1])
        return AttemptResult(Verdict.DELIVERED, "http_200", 200)


def notification(operation_id: str, event_type: str, n: int) -> dict[str, Any]:
    raw = record(f"{operation_id}-{n}")
    body = json.loads(raw["body"])
    body["event"] = {
        "id": f"evt-{operation_id}-{n}",
        "type": event_type,
        "data": {"operationId": operation_id},
    }
    return {**raw, "body": json.dumps(body)}


def test_one_operations_notifications_go_one_after_another_in_sending_order() -> None:
    # A standard queue may hand a batch over out of order: here the failure comes first.
    batch = [
        notification("op-a", "instance.startup.failed", 4),
        notification("op-b", "instance.startup.initiated", 1),
        notification("op-a", "instance.startup.initiated", 1),
        notification("op-a", "instance.startup.progress", 2),
        notification("op-b", "instance.startup.completed", 3),
        notification("op-a", "instance.startup.health_check.started", 3),
        notification("op-b", "instance.startup.progress", 2),
    ]
    deliverer = OrderWatchingDeliverer()

    response = dispatcher(deliverer, FakeSqs()).process({"Records": batch})

    assert response["batchItemFailures"] == []
    assert deliverer.order == {
        "op-a": ["initiated", "progress", "started", "failed"],
        "op-b": ["initiated", "progress", "completed"],
    }
    assert deliverer.most_in_flight_per_operation == 1
    assert deliverer.most_in_flight == 2  # the two operations still run side by side
