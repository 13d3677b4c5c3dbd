"""The request journal: what the simulated API was asked and what it answered (never the API key)."""

from __future__ import annotations

import threading
from typing import Any

from novita_local.simulator.errors import JSON


class Journal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[JSON] = []
        self._seq = 0
        self._epoch = 0  # bumped by clear(): requests begun before it are not recorded after it

    @property
    def epoch(self) -> int:
        return self._epoch

    def record(
        self,
        *,
        time: float,
        sim_time: float,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        status: int | None,
        authorized: bool,
        fault: str | None,
        epoch: int,
    ) -> None:
        with self._lock:
            if epoch != self._epoch:
                return
            self._seq += 1
            self._entries.append(
                {
                    "seq": self._seq,
                    "time": time,
                    "simTime": sim_time,
                    "method": method,
                    "path": path,
                    "query": dict(query),
                    "body": body,
                    "status": status,  # None when the connection was dropped before any answer
                    "authorized": authorized,
                    "fault": fault,
                }
            )

    def entries(self, path: str | None = None, method: str | None = None) -> list[JSON]:
        with self._lock:
            return [
                dict(e)
                for e in self._entries
                if (path is None or e["path"] == path) and (method is None or e["method"] == method.upper())
            ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._epoch += 1
