"""DynamoDB adapter for startup operations (``OperationsTable``, ``pk = OP#<operationId>``, ``sk = OP``).

One item per operation; ``gsi1pk = INSTANCE#<instanceId>`` / ``gsi1sk = createdAt`` make the
operations of one instance queryable (index ``byInstance``). A phase change and the notification it
causes are recorded in one conditional update, so a phase is notified once even when a step is retried:
a retry of the very change that was already recorded (same ``changeKey``) is told to send it again (the
event id is the same, receivers deduplicate); any other repeat of the phase is not notified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from botocore.exceptions import ClientError

from novita_orchestrator.store.dynamo import condition_failed, from_item, old_item, to_attr, to_item
from novita_orchestrator.times import iso

OPERATION_SK = "OP"
INSTANCE_INDEX = "byInstance"
RUNNING = "running"
#: Operations are kept this long after their last change (DynamoDB TTL).
OPERATION_LIFETIME_SECONDS = 90 * 24 * 3600


#: Tie-break for phases entered in the same millisecond (DynamoDB maps keep no order).
PHASE_ORDER = (
    "resolving",
    "creating",
    "starting",
    "pulling",
    "running",
    "health_check",
    "ready",
    "stopping",
    "stopped",
    "deleting",
    "deleted",
    "failed",
)


def ordered_phases(phases: dict[str, str]) -> dict[str, str]:
    """The phases in the order they were entered."""

    def key(item: tuple[str, str]) -> tuple[str, int]:
        name = item[0]
        return item[1], PHASE_ORDER.index(name) if name in PHASE_ORDER else len(PHASE_ORDER)

    return dict(sorted(phases.items(), key=key))


def operation_key(operation_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"OP#{operation_id}"}, "sk": {"S": OPERATION_SK}}


@dataclass(frozen=True)
class OperationRecord:
    operation_id: str
    kind: str
    target: str
    status: str
    phase: str
    phases: dict[str, str] = field(default_factory=dict)
    notifications: list[str] = field(default_factory=list)
    instance_id: str | None = None
    instance_name: str | None = None
    product_id: str | None = None
    #: A create by GPU type: the offer it created on, and every offer it tried (with the outcome).
    offer: dict[str, Any] | None = None
    offers_tried: list[dict[str, Any]] = field(default_factory=list)
    outcome: dict[str, str] | None = None
    polls: int = 0
    health_checks: int = 0
    webhook_url: str | None = None
    created_at: str = ""
    updated_at: str = ""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> OperationRecord:
        """From a DynamoDB item."""
        return cls.from_values(from_item(item))

    @classmethod
    def from_values(cls, data: dict[str, Any]) -> OperationRecord:
        """From the item's plain values (attribute name -> value)."""
        return cls(
            operation_id=str(data.get("operationId", "")),
            kind=str(data.get("kind", "")),
            target=str(data.get("target", "")),
            status=str(data.get("status", "")),
            phase=str(data.get("phase", "")),
            phases=ordered_phases(data.get("phases") or {}),
            notifications=list(data.get("notifications") or []),
            instance_id=data.get("instanceId"),
            instance_name=data.get("instanceName"),
            product_id=data.get("productId"),
            offer=data.get("offer"),
            offers_tried=list(data.get("offersTried") or []),
            outcome=data.get("outcome"),
            polls=int(data.get("polls", 0)),
            health_checks=int(data.get("healthChecks", 0)),
            webhook_url=data.get("webhookUrl"),
            created_at=str(data.get("createdAt", "")),
            updated_at=str(data.get("updatedAt", "")),
        )

    def to_json(self) -> dict[str, Any]:
        """The operation as the CLI and API show it (camelCase)."""
        return {
            "operationId": self.operation_id,
            "kind": self.kind,
            "target": self.target,
            "instanceId": self.instance_id,
            "instanceName": self.instance_name,
            "productId": self.product_id,
            "offer": self.offer,
            "offersTried": list(self.offers_tried),
            "status": self.status,
            "phase": self.phase,
            "phases": dict(self.phases),
            "notifications": list(self.notifications),
            "outcome": self.outcome,
            "polls": self.polls,
            "healthChecks": self.health_checks,
            "webhookUrl": self.webhook_url,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


class ChangeResult(Enum):
    #: The phase changed now: send the notification.
    CHANGED = "changed"
    #: This very change was recorded by an earlier attempt of the same step: send it again (same id).
    REPEATED = "repeated"
    #: The operation was already in that phase (or finished): nothing to send.
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class PhaseChange:
    result: ChangeResult
    #: Every phase the operation has entered so far -> ISO time first entered.
    phases: dict[str, str]

    @property
    def notify(self) -> bool:
        return self.result is not ChangeResult.UNCHANGED


class OperationNotFound(Exception):
    """No operation has this ID (an update of an unknown operation; the API's 404)."""


class OperationsStore(Protocol):
    """One record per operation: its phases (each notified once), counters, outcome."""

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
        """Record a new running operation; a retry with the same ID returns the existing item unchanged."""
        ...

    def get(self, operation_id: str) -> OperationRecord | None: ...

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
        """Attach the instance (and index the operation under it) once its ID is known; a create by
        GPU type also records the offer it landed on and the offers it tried."""
        ...

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
        """Move a running operation to ``phase`` (see :meth:`DynamoOperationsStore.change_phase`)."""
        ...

    def record_counters(self, operation_id: str, *, now: float, counters: dict[str, int]) -> None:
        """Set ``polls`` / ``healthChecks`` (absolute values: a retried step sets the same number)."""
        ...

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
        """Record the terminal status once; later calls return the record as it is
        (``notification_type`` None: the operation ends without a notification)."""
        ...


class DynamoOperationsStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

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
        """Record a new running operation; a retry with the same ID returns the existing item unchanged."""
        stamp = iso(now)
        item = to_item(
            {
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
        ) | operation_key(operation_id)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return OperationRecord.from_item(exc.response.get("Item") or item)
        return OperationRecord.from_item(item)

    def get(self, operation_id: str) -> OperationRecord | None:
        response = self._client.get_item(
            TableName=self._table, Key=operation_key(operation_id), ConsistentRead=True
        )
        item = response.get("Item")
        return OperationRecord.from_item(item) if item else None

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
        """Attach the instance (and index the operation under it) once its ID is known; a create by
        GPU type also records the offer it landed on and the offers it tried."""
        names = {
            "#iid": "instanceId",
            "#upd": "updatedAt",
            "#g1": "gsi1pk",
            "#g2": "gsi1sk",
            "#c": "createdAt",
        }
        values: dict[str, Any] = {":iid": to_attr(instance_id), ":g1": to_attr(f"INSTANCE#{instance_id}")}
        values[":upd"] = to_attr(iso(now))
        sets = ["#iid = :iid", "#g1 = :g1", "#g2 = #c", "#upd = :upd"]
        if instance_name:
            names["#iname"] = "instanceName"
            values[":iname"] = to_attr(instance_name)
            sets.append("#iname = :iname")
        if product_id:
            names["#prod"] = "productId"
            values[":prod"] = to_attr(product_id)
            sets.append("#prod = :prod")
        for attr, value in (("offer", offer), ("offersTried", offers_tried)):
            if value:
                names[f"#{attr}"] = attr
                values[f":{attr}"] = to_attr(value)
                sets.append(f"#{attr} = :{attr}")
        self._update(operation_id, "SET " + ", ".join(sets), names, values)

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
        """Move a running operation to ``phase`` and append ``notification_type``, unless it is there.

        ``change_key`` names this attempt's change (e.g. ``poll:3``): a retried step passes the same key
        and learns that its change was already recorded (:attr:`ChangeResult.REPEATED`). ``counters``
        (``polls``, ``healthChecks``) are set either way.
        """
        stamp = iso(now)
        names = {
            "#ph": "phase",
            "#phs": "phases",
            "#p": phase,
            "#n": "notifications",
            "#lc": "lastChange",
            "#st": "status",
            "#upd": "updatedAt",
        }
        values: dict[str, Any] = {
            ":ph": to_attr(phase),
            ":now": to_attr(stamp),
            ":types": to_attr([notification_type]),
            ":empty": to_attr([]),
            ":lc": to_attr(change_key),
            ":running": to_attr(RUNNING),
        }
        sets = [
            "#ph = :ph",
            "#phs.#p = if_not_exists(#phs.#p, :now)",
            "#n = list_append(if_not_exists(#n, :empty), :types)",
            "#lc = :lc",
            "#upd = :now",
        ]
        counter_sets = self._counter_sets(counters, names, values)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=operation_key(operation_id),
                UpdateExpression="SET " + ", ".join(sets + counter_sets),
                ConditionExpression="attribute_exists(pk) AND #st = :running AND #ph <> :ph",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            current = old_item(exc)
            if not current:
                raise OperationNotFound(f"operation {operation_id} does not exist") from None
            if counters:
                self.record_counters(operation_id, now=now, counters=counters)
            repeated = current.get("lastChange") == change_key and current.get("phase") == phase
            result = ChangeResult.REPEATED if repeated else ChangeResult.UNCHANGED
            return PhaseChange(result, ordered_phases(current.get("phases") or {}))
        record = OperationRecord.from_item(response["Attributes"])
        return PhaseChange(ChangeResult.CHANGED, record.phases)

    def record_counters(self, operation_id: str, *, now: float, counters: dict[str, int]) -> None:
        """Set ``polls`` / ``healthChecks`` (absolute values: a retried step sets the same number)."""
        names: dict[str, str] = {"#upd": "updatedAt"}
        values: dict[str, Any] = {":now": to_attr(iso(now))}
        sets = ["#upd = :now", *self._counter_sets(counters, names, values)]
        self._update(operation_id, "SET " + ", ".join(sets), names, values)

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
        """Record the terminal status once; later calls return the record as it is.

        ``notification_type`` None: the operation ends without a notification (it was never started).
        ``defaults`` (kind, target, ...) fill an item that was never created (the request failed
        before the operation was recorded), so every operation ends with a record.
        """
        stamp = iso(now)
        names = {
            "#st": "status",
            "#ph": "phase",
            "#phs": "phases",
            "#p": phase,
            "#n": "notifications",
            "#upd": "updatedAt",
            "#c": "createdAt",
            "#lc": "lastChange",
            "#oid": "operationId",
            "#exp": "expiresAt",
        }
        values: dict[str, Any] = {
            ":st": to_attr(status),
            ":ph": to_attr(phase),
            ":now": to_attr(stamp),
            ":types": to_attr([notification_type] if notification_type else []),
            ":empty": to_attr([]),
            ":running": to_attr(RUNNING),
            ":lc": to_attr(f"finish:{status}"),
            ":oid": to_attr(operation_id),
            ":exp": to_attr(int(now) + OPERATION_LIFETIME_SECONDS),
        }
        sets = [
            "#st = :st",
            "#ph = :ph",
            "#n = list_append(if_not_exists(#n, :empty), :types)",
            "#upd = :now",
            "#c = if_not_exists(#c, :now)",
            "#lc = :lc",
            "#oid = if_not_exists(#oid, :oid)",
            "#exp = :exp",
        ]
        if outcome is not None:
            names["#out"] = "outcome"
            values[":out"] = to_attr(outcome)
            sets.append("#out = :out")
        for i, (key, value) in enumerate((defaults or {}).items()):
            names[f"#d{i}"] = key
            values[f":d{i}"] = to_attr(value)
            sets.append(f"#d{i} = if_not_exists(#d{i}, :d{i})")
        condition = "attribute_not_exists(#st) OR #st = :running"
        # A nested path needs its map to exist; an item created here has none yet.
        self._ensure_phases_map(operation_id)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=operation_key(operation_id),
                UpdateExpression="SET " + ", ".join([*sets, "#phs.#p = if_not_exists(#phs.#p, :now)"]),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return OperationRecord.from_item(exc.response.get("Item") or {})
        return OperationRecord.from_item(response["Attributes"])

    # --- plumbing ------------------------------------------------------------------------------

    @staticmethod
    def _counter_sets(
        counters: dict[str, int] | None, names: dict[str, str], values: dict[str, Any]
    ) -> list[str]:
        sets = []
        for i, (name, count) in enumerate(sorted((counters or {}).items())):
            if name not in {"polls", "healthChecks"}:
                raise ValueError(f"unknown counter {name!r}")
            names[f"#k{i}"] = name
            values[f":k{i}"] = to_attr(count)
            sets.append(f"#k{i} = :k{i}")
        return sets

    def _ensure_phases_map(self, operation_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=operation_key(operation_id),
                UpdateExpression="SET #phs = :empty",
                ConditionExpression="attribute_not_exists(#phs)",
                ExpressionAttributeNames={"#phs": "phases"},
                ExpressionAttributeValues={":empty": to_attr({})},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def _update(self, operation_id: str, update: str, names: dict[str, str], values: dict[str, Any]) -> None:
        names = {**names, "#pkey": "pk"}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=operation_key(operation_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(#pkey)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if condition_failed(exc):
                raise OperationNotFound(f"operation {operation_id} does not exist") from None
            raise
