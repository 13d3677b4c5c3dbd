"""Publishing an operation's terminal event on the service's EventBridge bus from code (the
workflows' own are their ``events:putEvents`` tasks, with the same source and detail)."""

from __future__ import annotations

import json
from typing import Any

#: The ``source`` of every event the service publishes (the state machines' PublishEvent states).
EVENT_SOURCE = "novita-orchestrator"


class EventBridgeBus:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        answer = self._client.put_events(
            Entries=[
                {
                    "EventBusName": self._bus_name,
                    "Source": EVENT_SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            [entry] = answer["Entries"]
            raise RuntimeError(f"EventBridge refused the {detail_type} event: {entry.get('ErrorCode')}")
