"""The webhook dead-letter queue (operations): what is parked there, its depth, and the redrive.

On AWS, ``redrive`` uses SQS's message-move task (``StartMessageMoveTask``: the DLQ back to the
queue it serves). Where that API is missing (moto, the local engine; some SQS look-alikes) it moves
the messages itself: receive from the DLQ, send to the webhook queue, delete from the DLQ only after
the send succeeded - a message may be delivered twice, never lost (receivers dedupe on webhook-id).

Used by ``GET /health`` (the depth) and by the ``novita-orchestrator dlq list|redrive`` command.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from novita_orchestrator.times import iso

_PEEK_SECONDS = 30  # how long listed messages stay hidden before they are released again
_MOVE_TASK_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    event_id: str | None
    event_type: str | None
    operation_id: str | None
    webhook_host: str | None  # the host only: URLs may carry tokens in their path or query
    failure_reason: str | None
    attempts: int | None
    last_status: int | None
    sent_at: str | None


@dataclass(frozen=True)
class RedriveResult:
    method: str  # "move-task" or "copy"
    moved: int | None  # None when SQS moves them in the background and did not report a count
    task_handle: str | None = None


class DeadLetters:
    def __init__(self, sqs: Any, *, dlq_url: str, queue_url: str) -> None:
        self._sqs = sqs
        self.dlq_url = dlq_url
        self.queue_url = queue_url

    def depth(self) -> int:
        """Messages parked (visible or being read)."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def peek(self) -> list[DeadLetter]:
        """Every parked message, without removing any (each is hidden briefly while it is read)."""
        seen: dict[str, DeadLetter] = {}
        handles: list[str] = []
        try:
            while True:
                batch = self._sqs.receive_message(
                    QueueUrl=self.dlq_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=_PEEK_SECONDS,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not batch:
                    break
                for message in batch:
                    handles.append(message["ReceiptHandle"])
                    seen.setdefault(message["MessageId"], _dead_letter(message))
        finally:
            for handle in handles:  # put them back at once
                self._sqs.change_message_visibility(
                    QueueUrl=self.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
        return list(seen.values())

    def redrive(self, *, wait: bool = True, timeout_seconds: float = 300.0) -> RedriveResult:
        """Send every parked message back to the webhook queue."""
        try:
            started = self._sqs.start_message_move_task(
                SourceArn=self._arn(self.dlq_url), DestinationArn=self._arn(self.queue_url)
            )
        except NotImplementedError:
            return RedriveResult("copy", self._copy_back())
        except Exception as exc:
            if _error_code(exc) not in {
                "UnsupportedOperation",
                "InvalidAction",
                "AWS.SimpleQueueService.UnsupportedOperation",
            }:
                raise
            return RedriveResult("copy", self._copy_back())
        handle = str(started.get("TaskHandle"))
        moved = self._wait_for_move_task(timeout_seconds) if wait else None
        return RedriveResult("move-task", moved, handle)

    def _copy_back(self) -> int:
        moved = 0
        while True:
            batch = self._sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=_PEEK_SECONDS
            ).get("Messages", [])
            if not batch:
                return moved
            for message in batch:
                self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=message["Body"])
                self._sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1

    def _wait_for_move_task(self, timeout_seconds: float) -> int | None:
        deadline = time.monotonic() + timeout_seconds
        source = self._arn(self.dlq_url)
        while time.monotonic() < deadline:
            tasks = self._sqs.list_message_move_tasks(SourceArn=source, MaxResults=1).get("Results", [])
            if tasks and tasks[0].get("Status") != "RUNNING":
                if tasks[0].get("Status") == "FAILED":
                    raise RuntimeError(f"the message move task failed: {tasks[0].get('FailureReason')}")
                moved = tasks[0].get("ApproximateNumberOfMessagesMoved")
                return int(moved) if moved is not None else None
            time.sleep(_MOVE_TASK_POLL_SECONDS)
        return None

    def _arn(self, queue_url: str) -> str:
        attributes = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])


def _dead_letter(message: dict[str, Any]) -> DeadLetter:
    attributes = message.get("MessageAttributes") or {}

    def text(name: str) -> str | None:
        value = attributes.get(name, {}).get("StringValue")
        return str(value) if value is not None else None

    def number(name: str) -> int | None:
        value = text(name)
        return int(value) if value is not None and value.isdigit() else None

    event_id = event_type = host = operation_id = None
    try:
        body = json.loads(message.get("Body") or "")
        event = body.get("event") or {}
        event_id, event_type = event.get("id"), event.get("type")
        operation_id = (event.get("data") or {}).get("operationId")
        url = (body.get("webhook") or {}).get("url")
        host = urlsplit(url).hostname if isinstance(url, str) else None
    except (ValueError, AttributeError):
        pass
    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    sent_at = iso(int(sent) / 1000) if sent and sent.isdigit() else None
    return DeadLetter(
        message_id=message["MessageId"],
        event_id=event_id,
        event_type=event_type,
        operation_id=operation_id,
        webhook_host=host,
        failure_reason=text("failureReason"),
        attempts=number("attempts"),
        last_status=number("lastStatus"),
        sent_at=sent_at,
    )


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code is not None else None
    return None
