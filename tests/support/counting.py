"""Counting wrappers: how many DynamoDB requests a store made, how many breaker transitions a Lambda won.

They wrap the real objects (a boto3 client, a resilience store) and pass every call through, so what
is measured is exactly what the production code does.
"""

from __future__ import annotations

import threading
from typing import Any

from novita_orchestrator.resilience.breaker import BreakerRecord, BreakerState

_DYNAMODB_REQUESTS = frozenset({"get_item", "put_item", "update_item", "delete_item", "query", "scan"})


class CountingClient:
    """A DynamoDB client counting the requests made through it (reads and lost races included)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.calls = 0
        self.reads = 0

    def reset(self) -> None:
        with self._lock:
            self.calls = self.reads = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in _DYNAMODB_REQUESTS:
            return attribute

        def counted(**kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
                self.reads += name == "get_item"
            return attribute(**kwargs)

        return counted


class CountingTransitions:
    """A resilience store as one Lambda sees it, counting the breaker transitions it won."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.won = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def replace_breaker(
        self, name: str, *, expected_state: BreakerState, expected_generation: int, record: BreakerRecord
    ) -> bool:
        won: bool = self._store.replace_breaker(
            name, expected_state=expected_state, expected_generation=expected_generation, record=record
        )
        with self._lock:
            self.won += won
        return won
