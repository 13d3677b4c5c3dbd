"""The webhook dead-letter queue: list what is parked there, send it back to the webhook queue.

On AWS, ``redrive`` uses SQS's message-move task (``StartMessageMoveTask``: the DLQ back to the
queue it serves). Where that API is missing (moto, the local engine; some SQS look-alikes) it moves
the messages itself: receive from the DLQ, send to the webhook queue, delete from the DLQ only after
the send succeeded - a message may be delivered twice, never lost (receivers dedupe on webhook-id).

``novita-orchestrator dlq list|redrive`` take the queue URLs from ``--stack`` (the stack's outputs),
from ``--dlq-url`` / ``--queue-url``, or from the settings WEBHOOK_DLQ_URL / WEBHOOK_QUEUE_URL. The local
engine lives in one process, so locally the same :class:`DeadLetters` runs on the engine's queues
(``DeadLetters.for_engine(engine)``), as the tests and the demo do.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from novita_local.engine import LocalEngine

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

    @classmethod
    def for_engine(cls, engine: LocalEngine) -> DeadLetters:
        return cls(
            engine.boto_client("sqs"),
            dlq_url=engine.queue_url("WebhookDeadLetterQueue"),
            queue_url=engine.queue_url("WebhookQueue"),
        )

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
    sent_at = (
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(sent) / 1000))
        if sent and sent.isdigit()
        else None
    )
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


# --- the command ---------------------------------------------------------------------------------


def add_dlq_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dlq",
        help="list or redrive webhook notifications parked in the dead-letter queue",
        description="The webhook dead-letter queue on AWS (queue URLs: --stack, the options or settings).",
    )
    actions = parser.add_subparsers(dest="dlq_action", required=True, metavar="ACTION")
    for name, help_text in (
        ("list", "show the parked notifications (event, type, host, reason, attempts)"),
        ("redrive", "send every parked notification back to the webhook queue"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--stack", help="CloudFormation stack whose outputs name the queues")
        action.add_argument("--dlq-url", help="the dead-letter queue (default: setting WEBHOOK_DLQ_URL)")
        action.add_argument("--queue-url", help="the webhook queue (default: setting WEBHOOK_QUEUE_URL)")
        action.add_argument("--region", help="AWS region (default: the AWS configuration)")
        action.add_argument("--endpoint-url", help="an SQS-compatible endpoint instead of AWS")
        action.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run_dlq_command)


def run_dlq_command(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from novita_orchestrator.settings import ConfigurationError, get_settings

    try:
        dlq_url, queue_url = _queue_urls(args, get_settings(), boto3)
        sqs = boto3.client("sqs", region_name=args.region, endpoint_url=args.endpoint_url)
        dead_letters = DeadLetters(sqs, dlq_url=dlq_url, queue_url=queue_url)
        if args.dlq_action == "list":
            letters = dead_letters.peek()
            _print_list(letters, as_json=args.json)
        else:
            result = dead_letters.redrive()
            _print_redrive(result, as_json=args.json)
    except ConfigurationError as exc:
        print(f"novita-orchestrator dlq: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError, RuntimeError) as exc:
        print(f"novita-orchestrator dlq: {exc}", file=sys.stderr)
        return 1
    return 0


def _queue_urls(args: argparse.Namespace, settings: Any, boto3: Any) -> tuple[str, str]:
    from novita_orchestrator.settings import ConfigurationError

    dlq_url, queue_url = args.dlq_url, args.queue_url
    if args.stack:
        cloudformation = boto3.client("cloudformation", region_name=args.region)
        stack = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        dlq_url = dlq_url or outputs.get("WebhookDeadLetterQueueUrl")
        queue_url = queue_url or outputs.get("WebhookQueueUrl")
    dlq_url = dlq_url or settings.WEBHOOK_DLQ_URL
    queue_url = queue_url or settings.WEBHOOK_QUEUE_URL
    if not dlq_url:
        raise ConfigurationError("no dead-letter queue: pass --stack or --dlq-url, or set WEBHOOK_DLQ_URL")
    if not queue_url and args.dlq_action == "redrive":
        raise ConfigurationError("no webhook queue: pass --stack or --queue-url, or set WEBHOOK_QUEUE_URL")
    return str(dlq_url), str(queue_url or "")


def _print_list(letters: list[DeadLetter], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"deadLetters": [asdict(letter) for letter in letters]}, indent=None))
        return
    if not letters:
        print("the webhook dead-letter queue is empty")
        return
    for letter in letters:
        print(
            f"{letter.sent_at or '-'}  {letter.event_id or '?'}  {letter.event_type or '?'}  "
            f"host={letter.webhook_host or '-'}  reason={letter.failure_reason or '-'}  "
            f"attempts={letter.attempts if letter.attempts is not None else '-'}"
            f"{f'  last={letter.last_status}' if letter.last_status is not None else ''}"
        )
    print(f"{len(letters)} notification(s) parked")


def _print_redrive(result: RedriveResult, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(result)))
        return
    moved = "some" if result.moved is None else str(result.moved)
    print(f"redrive ({result.method}): {moved} notification(s) sent back to the webhook queue")
