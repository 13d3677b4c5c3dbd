"""Putting a notification on the webhook queue from code (the state machine's own sends are its
``sqs:sendMessage`` tasks)."""

from __future__ import annotations

import json
from typing import Any


class SqsNotificationQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, operation_id: str, message: dict[str, Any]) -> None:
        extra: dict[str, str] = {}
        if self._queue_url.endswith(".fifo"):  # one operation's messages in order, each once
            event = message.get("event") or {}
            extra = {
                "MessageGroupId": operation_id,
                "MessageDeduplicationId": str(event.get("id", operation_id)),
            }
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(message), **extra)
