"""The webhook queue's consumer: deliver a batch, then report the partial batch failures.

Each record is one attempt (its SQS receive count is the attempt number). One operation's records are
delivered one after another, in the order they were sent (``initiated`` first, the terminal one last,
the rest in the batch's order); different operations run at once on a thread pool over one pooled
session. Then Powertools' BatchProcessor reports the records still to be retried as
``batchItemFailures``. A retry leaves the message on the queue with its visibility timeout set to
the schedule's next delay (SQS brings it back then); a dead letter is sent to the DLQ by the
dispatcher and then deleted from the queue (reported as handled) - if that send fails, the message
stays on the queue, so nothing is dropped. The queue's own redrive policy is the backstop for crashes.

Why here and not an SQS FIFO queue with ``MessageGroupId = operationId``: a FIFO group is blocked
while its head is invisible, so one receiver failing a notification would hold every later
notification of that operation for the whole retry schedule (hours), and the state machine's sends,
the DLQ and the redrive would all need group and deduplication IDs. Order is kept where it matters (a
healthy receiver never sees ``failed`` before ``initiated``); under retries it is not: a retried
notification arrives after the later ones that succeeded (the README says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.webhooks.delivery import (
    Action,
    AttemptResult,
    MalformedWebhookMessage,
    RetrySchedule,
    Verdict,
    WebhookMessage,
    decide,
    describe,
    parse_message,
)


class Deliverer(Protocol):
    def attempt(self, message: WebhookMessage) -> AttemptResult: ...


class DeliveryPending(Exception):
    """Raised for a record that stays on the queue (a retry is scheduled)."""


@dataclass(frozen=True)
class RecordOutcome:
    message_id: str
    action: Action
    reason: str
    attempt: int
    event_id: str | None = None
    event_type: str | None = None
    delay_seconds: int | None = None
    result: AttemptResult | None = None
    stays_on_queue: bool = False  # reported as a batch item failure

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "messageId": self.message_id,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "attempt": self.attempt,
            "action": self.action.value,
            "reason": self.reason,
        }
        if self.delay_seconds is not None:
            fields["retryInSeconds"] = self.delay_seconds
        if self.result is not None:
            fields.update(describe(self.result))
        return fields


_METRIC_BY_ACTION = {
    Action.ACK: "WebhookDelivered",
    Action.RETRY: "WebhookRetryScheduled",
    Action.DEAD_LETTER: "WebhookDeadLettered",
}


class WebhookDispatcher:
    def __init__(
        self,
        sender: Deliverer,
        sqs: Any,
        *,
        queue_url: str,
        dlq_url: str,
        schedule: RetrySchedule,
        max_concurrency: int,
    ) -> None:
        self._sender = sender
        self._sqs = sqs
        self._queue_url = queue_url
        self._dlq_url = dlq_url
        self._schedule = schedule
        self._max_concurrency = max_concurrency

    # --- the Lambda entry ----------------------------------------------------------------------

    def process(self, event: dict[str, Any], context: Any = None) -> PartialItemFailureResponse:
        records: list[dict[str, Any]] = list(event.get("Records") or [])
        outcomes = {o.message_id: o for o in self.handle_batch(records)}
        for outcome in outcomes.values():
            self._report(outcome)

        def record_handler(record: SQSRecord) -> None:
            outcome = outcomes[record.message_id]
            if outcome.stays_on_queue:
                raise DeliveryPending(f"{outcome.reason}; attempt {outcome.attempt}")

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(event, record_handler, processor, context)

    def handle_batch(self, records: Sequence[dict[str, Any]]) -> list[RecordOutcome]:
        """Handle every record: one operation's records one after another in the order they were sent,
        up to WEBHOOK_MAX_CONCURRENCY operations at once; outcomes in record order."""
        groups = in_sending_order(records)

        def handle_group(group: list[int]) -> list[tuple[int, RecordOutcome]]:
            return [(index, self.handle(records[index])) for index in group]

        if len(groups) <= 1 or self._max_concurrency == 1:
            handled = [pair for group in groups for pair in handle_group(group)]
        else:
            with ThreadPoolExecutor(max_workers=min(self._max_concurrency, len(groups))) as pool:
                handled = [pair for pairs in pool.map(handle_group, groups) for pair in pairs]
        return [outcome for _, outcome in sorted(handled, key=lambda pair: pair[0])]

    # --- one record ----------------------------------------------------------------------------

    def handle(self, raw: dict[str, Any]) -> RecordOutcome:
        record = SQSRecord(raw)
        attempt = _receive_count(record)
        try:
            message = parse_message(record.body)
        except MalformedWebhookMessage as exc:
            return self._dead_letter(record, attempt, "malformed_message", None, detail=str(exc))
        event_id, event_type = message.event.id, message.event.type
        if message.webhook is None:
            return RecordOutcome(record.message_id, Action.ACK, "no_webhook", attempt, event_id, event_type)
        result = self._sender.attempt(message)
        decision = decide(result, attempt, self._schedule)
        if decision.action is Action.ACK:
            return RecordOutcome(
                record.message_id, Action.ACK, result.reason, attempt, event_id, event_type, result=result
            )
        if decision.action is Action.DEAD_LETTER:
            reason = (
                result.reason
                if result.verdict is Verdict.PERMANENT
                else f"attempts_exhausted_{result.reason}"
            )
            return self._dead_letter(
                record, attempt, reason, result, event_id=event_id, event_type=event_type
            )
        delay = decision.delay_seconds or 0
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
            )
        except (BotoCoreError, ClientError) as exc:
            # The queue's own visibility timeout applies instead: later or sooner, but not lost.
            logger.warning("could not schedule the webhook retry", extra={"error": type(exc).__name__})
        return RecordOutcome(
            record.message_id,
            Action.RETRY,
            result.reason,
            attempt,
            event_id,
            event_type,
            delay_seconds=delay,
            result=result,
            stays_on_queue=True,
        )

    def _dead_letter(
        self,
        record: SQSRecord,
        attempt: int,
        reason: str,
        result: AttemptResult | None,
        *,
        event_id: str | None = None,
        event_type: str | None = None,
        detail: str = "",
    ) -> RecordOutcome:
        attributes = {
            "failureReason": {"DataType": "String", "StringValue": reason},
            "attempts": {"DataType": "Number", "StringValue": str(attempt)},
        }
        if result is not None and result.status_code is not None:
            attributes["lastStatus"] = {"DataType": "Number", "StringValue": str(result.status_code)}
        try:
            self._sqs.send_message(
                QueueUrl=self._dlq_url, MessageBody=record.body, MessageAttributes=attributes
            )
        except (BotoCoreError, ClientError) as exc:
            logger.error(
                "could not dead-letter the webhook; it stays queued", extra={"error": type(exc).__name__}
            )
            return RecordOutcome(
                record.message_id,
                Action.RETRY,
                "dead_letter_failed",
                attempt,
                event_id,
                event_type,
                result=result,
                stays_on_queue=True,
            )
        if detail and result is None:
            logger.warning(
                "malformed webhook message", extra={"messageId": record.message_id, "detail": detail}
            )
        return RecordOutcome(
            record.message_id, Action.DEAD_LETTER, reason, attempt, event_id, event_type, result=result
        )

    # --- observability -------------------------------------------------------------------------

    def _report(self, outcome: RecordOutcome) -> None:
        if outcome.reason == "no_webhook":
            logger.info("notification without a webhook acknowledged", extra=outcome.log_fields())
            metrics.add_metric(name="WebhookNotRequested", unit=MetricUnit.Count, value=1)
            return
        if outcome.result is not None:
            metrics.add_metric(name="WebhookAttempts", unit=MetricUnit.Count, value=1)
        level = logger.info if outcome.action is Action.ACK else logger.warning
        level("webhook attempt", extra=outcome.log_fields())
        metrics.add_metric(name=_METRIC_BY_ACTION[outcome.action], unit=MetricUnit.Count, value=1)


def in_sending_order(records: Sequence[dict[str, Any]]) -> list[list[int]]:
    """The records' indexes grouped by operation (``event.data.operationId``), each group in the order
    its notifications were sent: the ``*.initiated`` one first, the terminal ``*.completed`` /
    ``*.failed`` last, the others as the batch holds them (a standard queue mostly keeps the sending
    order; a notification type never depends on a clock). A record without an operation is its own
    group."""
    groups: dict[str, list[int]] = {}
    for index, raw in enumerate(records):
        operation_id, _ = _operation_and_type(raw)
        groups.setdefault(operation_id or f"#{index}", []).append(index)

    def rank(index: int) -> tuple[int, int]:
        _, event_type = _operation_and_type(records[index])
        if event_type.endswith(".initiated"):
            return 0, index
        if event_type.endswith((".completed", ".failed")):
            return 2, index
        return 1, index

    return [sorted(group, key=rank) for group in groups.values()]


def _operation_and_type(raw: dict[str, Any]) -> tuple[str | None, str]:
    try:
        event = parse_message(SQSRecord(raw).body).event
    except (MalformedWebhookMessage, TypeError, KeyError):
        return None, ""
    data = getattr(event, "data", None)
    operation_id = data.get("operationId") if isinstance(data, dict) else None
    return (operation_id if isinstance(operation_id, str) and operation_id else None), event.type


def _receive_count(record: SQSRecord) -> int:
    try:
        return max(1, int(record.attributes.approximate_receive_count))
    except (TypeError, ValueError, KeyError):
        return 1
