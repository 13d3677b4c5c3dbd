"""An in-memory status snapshot store with the DynamoDB adapter's conditional semantics.

``tests/integration/test_status_snapshot.py`` runs the same contract checks against both, so the
fake cannot drift. ``fail`` makes every call raise as DynamoDB being unavailable would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from novita_orchestrator.store.status_snapshot_store import (
    BACKING_OFF,
    Snapshot,
    SnapshotStoreUnavailable,
    Watch,
    rows_from_text,
    rows_text,
)


class InMemorySnapshotStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.snapshot: Snapshot | None = None
        self.lease: tuple[str, float] | None = None
        self.watches: dict[str, Watch] = {}
        self.saves = 0
        self.fail = False

    def _check(self) -> None:
        if self.fail:
            raise SnapshotStoreUnavailable("DynamoDB is unavailable (injected)")

    def load(self) -> Snapshot | None:
        with self._lock:
            self._check()
            return self.snapshot

    def save(self, snapshot: Snapshot, *, keep: Iterable[str] = ()) -> bool:
        with self._lock:
            self._check()
            if self.snapshot is not None and self.snapshot.refreshed_at >= round(snapshot.refreshed_at, 3):
                return False
            text, complete = rows_text(snapshot.rows, keep)
            self.snapshot = replace(
                snapshot,
                rows=rows_from_text(text),
                refreshed_at=round(snapshot.refreshed_at, 3),
                complete=complete and snapshot.complete,
            )
            self.saves += 1
            return True

    def take_lease(self, holder: str, *, now: float, until: float) -> bool:
        with self._lock:
            self._check()
            if self.lease is not None and self.lease[1] >= round(now, 3):
                return False
            self.lease = (holder, round(until, 3))
            return True

    def release_lease(self, holder: str) -> None:
        with self._lock:
            self._check()
            if self.lease is not None and self.lease[0] == holder:
                self.lease = None

    def back_off(self, holder: str, *, until: float) -> None:
        with self._lock:
            self._check()
            if self.lease is not None and self.lease[0] == holder:
                self.lease = (BACKING_OFF, round(until, 3))

    def lease_holder(self, *, now: float) -> str | None:
        with self._lock:
            self._check()
            if self.lease is None or self.lease[1] < now:
                return None
            return self.lease[0]

    def watch(
        self, operation_id: str, *, instance_id: str | None, expires_at: float, read_at: float, booting: float
    ) -> None:
        with self._lock:
            self._check()
            self.watches[operation_id] = Watch(
                operation_id, instance_id, float(int(expires_at) + 1), round(read_at, 3), round(booting, 3)
            )

    def unwatch(self, operation_id: str) -> None:
        with self._lock:
            self._check()
            self.watches.pop(operation_id, None)

    def watching(self, *, now: float) -> list[Watch]:
        with self._lock:
            self._check()
            return [w for w in self.watches.values() if w.expires_at > int(now)]
