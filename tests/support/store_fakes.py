"""In-memory stores with the same conditional semantics as the DynamoDB adapters of the operations table.

tests/integration/test_workflow_stores.py runs the same contract checks against both, so a fake
cannot drift from DynamoDB; step tests in the unit tier then run on these.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from novita_orchestrator.store.lease_store import Lease, LeaseChanged
from novita_orchestrator.store.lock_store import LockHeld
from novita_orchestrator.store.operations_store import (
    OPERATION_LIFETIME_SECONDS,
    RUNNING,
    ChangeResult,
    OperationNotFound,
    OperationRecord,
    PhaseChange,
    ordered_phases,
)
from novita_orchestrator.times import iso

_COUNTERS = frozenset({"polls", "healthChecks"})


class InMemoryOperationsStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: operation ID -> the item's plain values (attribute names as the DynamoDB adapter writes them).
        self.items: dict[str, dict[str, Any]] = {}

    def _record(self, operation_id: str) -> OperationRecord:
        return OperationRecord.from_values(dict(self.items[operation_id]))

    def _existing(self, operation_id: str) -> dict[str, Any]:
        item = self.items.get(operation_id)
        if item is None:
            raise OperationNotFound(f"operation {operation_id} does not exist")
        return item

    @staticmethod
    def _set_counters(item: dict[str, Any], counters: dict[str, int] | None) -> None:
        for name, count in (counters or {}).items():
            if name not in _COUNTERS:
                raise ValueError(f"unknown counter {name!r}")
            item[name] = count

    def create(
        self,
        *,
        operation_id: str,
        kind: str,
        target: str,
        phase: str,
        now: float,
        webhook_url: str | None = None,
    ) -> OperationRecord:
        with self._lock:
            if operation_id not in self.items:
                stamp = iso(now)
                self.items[operation_id] = {
                    "operationId": operation_id,
                    "kind": kind,
                    "target": target,
                    "status": RUNNING,
                    "phase": phase,
                    "phases": {phase: stamp},
                    "notifications": [],
                    "polls": 0,
                    "healthChecks": 0,
                    "webhookUrl": webhook_url,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "expiresAt": int(now) + OPERATION_LIFETIME_SECONDS,
                }
            return self._record(operation_id)

    def get(self, operation_id: str) -> OperationRecord | None:
        with self._lock:
            return self._record(operation_id) if operation_id in self.items else None

    def set_instance(
        self,
        operation_id: str,
        *,
        instance_id: str,
        instance_name: str | None,
        product_id: str | None,
        now: float,
        offer: dict[str, Any] | None = None,
        offers_tried: list[dict[str, Any]] | None = None,
    ) -> None:
        with self._lock:
            item = self._existing(operation_id)
            item.update(instanceId=instance_id, updatedAt=iso(now))
            if instance_name:
                item["instanceName"] = instance_name
            if product_id:
                item["productId"] = product_id
            if offer:
                item["offer"] = copy.deepcopy(offer)
            if offers_tried:
                item["offersTried"] = copy.deepcopy(offers_tried)

    def change_phase(
        self,
        operation_id: str,
        *,
        phase: str,
        notification_type: str,
        change_key: str,
        now: float,
        counters: dict[str, int] | None = None,
    ) -> PhaseChange:
        with self._lock:
            item = self._existing(operation_id)
            if item.get("status") != RUNNING or item.get("phase") == phase:
                self._set_counters(item, counters)
                repeated = item.get("lastChange") == change_key and item.get("phase") == phase
                result = ChangeResult.REPEATED if repeated else ChangeResult.UNCHANGED
                return PhaseChange(result, ordered_phases(dict(item.get("phases") or {})))
            stamp = iso(now)
            item["phase"] = phase
            item.setdefault("phases", {}).setdefault(phase, stamp)
            item["notifications"] = [*item.get("notifications", []), notification_type]
            item["lastChange"] = change_key
            item["updatedAt"] = stamp
            self._set_counters(item, counters)
            return PhaseChange(ChangeResult.CHANGED, ordered_phases(dict(item["phases"])))

    def record_counters(self, operation_id: str, *, now: float, counters: dict[str, int]) -> None:
        with self._lock:
            item = self._existing(operation_id)
            item["updatedAt"] = iso(now)
            self._set_counters(item, counters)

    def finish(
        self,
        operation_id: str,
        *,
        status: str,
        phase: str,
        notification_type: str | None,
        outcome: dict[str, str] | None,
        now: float,
        defaults: dict[str, str] | None = None,
    ) -> OperationRecord:
        with self._lock:
            item = self.items.setdefault(operation_id, {})
            if item.get("status", RUNNING) != RUNNING:
                return self._record(operation_id)
            stamp = iso(now)
            item.update(status=status, phase=phase, updatedAt=stamp, lastChange=f"finish:{status}")
            item["notifications"] = [*item.get("notifications", []), *filter(None, [notification_type])]
            item.setdefault("createdAt", stamp)
            item.setdefault("operationId", operation_id)
            item["expiresAt"] = int(now) + OPERATION_LIFETIME_SECONDS
            if outcome is not None:
                item["outcome"] = dict(outcome)
            for key, value in (defaults or {}).items():
                item.setdefault(key, value)
            item.setdefault("phases", {}).setdefault(phase, stamp)
            return self._record(operation_id)


class InMemoryLockStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: lock key -> (holder, expires at, whole epoch seconds as the DynamoDB item keeps it).
        self.locks: dict[str, tuple[str, int]] = {}

    def acquire(self, key: str, *, operation_id: str, now: float, expires_at: float) -> None:
        with self._lock:
            held = self.locks.get(key)
            if held is not None and held[0] != operation_id and not held[1] < int(now):
                raise LockHeld(key, held[0])
            self.locks[key] = (operation_id, int(expires_at))

    def release(self, key: str, *, operation_id: str) -> bool:
        with self._lock:
            held = self.locks.get(key)
            if held is None or held[0] != operation_id:
                return False
            del self.locks[key]
            return True

    def holder(self, key: str) -> str | None:
        with self._lock:
            held = self.locks.get(key)
            return held[0] if held else None


class InMemoryEnvValuesStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: operation ID -> (values, expires at)
        self.items: dict[str, tuple[dict[str, str], int]] = {}

    def put(self, operation_id: str, values: dict[str, str], *, expires_at: float) -> None:
        with self._lock:
            self.items[operation_id] = (dict(values), int(expires_at))

    def get(self, operation_id: str) -> dict[str, str] | None:
        with self._lock:
            held = self.items.get(operation_id)
            return dict(held[0]) if held else None

    def delete(self, operation_id: str) -> None:
        with self._lock:
            self.items.pop(operation_id, None)


class InMemoryStartupStatsStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: product -> {"<running_at>#<operation_id>": duration}
        self.durations: dict[str, dict[str, float]] = {}

    def record(
        self, product_id: str, *, operation_id: str, running_at: str, duration_seconds: float, now: float
    ) -> None:
        with self._lock:
            self.durations.setdefault(product_id, {})[f"{running_at}#{operation_id}"] = round(
                duration_seconds, 3
            )

    def recent(self, product_id: str, limit: int) -> list[float]:
        if limit <= 0:
            return []
        with self._lock:
            entries = self.durations.get(product_id, {})
            return [entries[key] for key in sorted(entries, reverse=True)[:limit]]


class InMemoryLeaseStore:
    def __init__(self) -> None:
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def get(self, instance_id: str) -> Lease | None:
        with self._lock:
            return self._leases.get(instance_id)

    def put(self, lease: Lease, *, replacing: Lease | None) -> None:
        with self._lock:
            current = self._leases.get(lease.instance_id)
            if (current is None) != (replacing is None) or (
                current is not None and replacing is not None and current.revision != replacing.revision
            ):
                raise LeaseChanged(f"the lease of {lease.instance_id} changed meanwhile")
            self._leases[lease.instance_id] = lease
