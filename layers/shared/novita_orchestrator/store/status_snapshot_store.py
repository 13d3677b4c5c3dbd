"""The shared status snapshot on ``StatusSnapshotTable``: one listing of Novita's instances that
serves the status reads of every operation in flight (see ``steps/status_reader.py``).

Items (``pk``, ``sk``):

* ``SNAPSHOT`` / ``ROWS`` — the rows of the last listing (JSON text: ``{instanceId: {name, status,
  productId, statusError}}``), ``refreshedAt`` (epoch seconds when that listing *began*, so a row is
  at least that fresh) and ``pages`` (what the listing cost). A snapshot only replaces an older one.
* ``SNAPSHOT`` / ``LEASE`` — who refreshes it now (``holder``) and until when (``leaseUntil``): one
  refresher at a time, and a crashed one frees it by expiring.
* ``WATCH`` / ``<operationId>`` — an operation waiting on an instance's status: when it reads next
  (``readAt``), how likely the instance is still on its way then (``booting``), until ``expiresAt``
  (its deadline; also the table's TTL attribute). They say whether a listing pays.

No secret is stored: rows hold names, statuses, product IDs and redacted status-error messages.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from novita_orchestrator.novita.models import InstanceSummary
from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.store.dynamo import condition_failed, to_attr

SNAPSHOT_PK = "SNAPSHOT"
ROWS_SK = "ROWS"
LEASE_SK = "LEASE"
WATCH_PK = "WATCH"
#: Rows beyond this much JSON are not shared (a DynamoDB item holds at most 400 KB): only the watched
#: instances' rows are kept then.
MAX_ROWS_BYTES = 300_000
#: The lease's holder while listings pause after one failed.
BACKING_OFF = "backing-off"
#: The snapshot item itself expires when nobody has refreshed it for this long.
SNAPSHOT_LIFETIME_SECONDS = 3600


class SnapshotStoreUnavailable(Exception):
    """DynamoDB failed (throttling, network, permissions): shared reads step aside, never fail a poll."""


@dataclass(frozen=True)
class StatusRow:
    """One instance as a listing showed it: enough to say it is still on its way, never its endpoints."""

    name: str
    status: str
    product_id: str | None = None
    status_error: dict[str, str] | None = None

    @classmethod
    def of(cls, summary: InstanceSummary) -> StatusRow:
        error = summary.status_error
        status_error = None
        if error is not None:
            status_error = {
                key: redact_text(value)
                for key, value in (("state", error.state), ("message", error.message))
                if value
            }
        return cls(summary.name, summary.status, summary.product_id, status_error or None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status}
        if self.product_id:
            data["productId"] = self.product_id
        if self.status_error:
            data["statusError"] = self.status_error
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusRow:
        error = data.get("statusError")
        return cls(
            name=str(data.get("name") or ""),
            status=str(data.get("status") or ""),
            product_id=data.get("productId") or None,
            status_error={str(k): str(v) for k, v in error.items()} if isinstance(error, Mapping) else None,
        )


@dataclass(frozen=True)
class Snapshot:
    #: Instance ID -> row.
    rows: Mapping[str, StatusRow]
    #: Epoch seconds when the listing began.
    refreshed_at: float
    #: Pages the listing took (its cost in Novita requests).
    pages: int
    #: False when only some rows were kept (too many to share): a missing row then says nothing.
    complete: bool = True

    def age(self, now: float) -> float:
        return max(0.0, now - self.refreshed_at)


@dataclass(frozen=True)
class Watch:
    operation_id: str
    instance_id: str | None
    expires_at: float
    #: Epoch seconds of the operation's next status read.
    read_at: float
    #: Probability that the instance is still on its way at that read (a shared row then serves it).
    booting: float


class SnapshotStore(Protocol):
    """What the status reader needs from the store; :class:`DynamoSnapshotStore` is the real one."""

    def load(self) -> Snapshot | None: ...

    def save(self, snapshot: Snapshot, *, keep: Iterable[str] = ()) -> bool:
        """Store it unless a snapshot at least as fresh is already there; True when stored. When the
        rows are too many for one item, only those of ``keep`` (the watched instances) are stored."""
        ...

    def take_lease(self, holder: str, *, now: float, until: float) -> bool:
        """Become the refresher until ``until`` if nobody is (or the last one's lease ran out)."""
        ...

    def release_lease(self, holder: str) -> None: ...

    def back_off(self, holder: str, *, until: float) -> None:
        """Turn the holder's lease into a pause until ``until`` (its listing failed: nobody lists
        meanwhile); the lease's holder then reads ``BACKING_OFF``."""
        ...

    def lease_holder(self, *, now: float) -> str | None:
        """Who holds the lease now (None when nobody does, or theirs ran out)."""
        ...

    def watch(
        self, operation_id: str, *, instance_id: str | None, expires_at: float, read_at: float, booting: float
    ) -> None: ...

    def unwatch(self, operation_id: str) -> None: ...

    def watching(self, *, now: float) -> list[Watch]:
        """The operations waiting on a status now (expired entries left out)."""
        ...


def rows_text(rows: Mapping[str, StatusRow], keep: Iterable[str] | None = None) -> tuple[str, bool]:
    """The rows as stored (JSON) and whether all of them fit; else only those in ``keep``."""
    text = json.dumps({key: row.to_json() for key, row in rows.items()}, separators=(",", ":"))
    if len(text.encode("utf-8")) <= MAX_ROWS_BYTES:
        return text, True
    wanted = set(keep or ())
    kept = {key: row.to_json() for key, row in rows.items() if key in wanted}
    return json.dumps(kept, separators=(",", ":")), False


def rows_from_text(text: str) -> dict[str, StatusRow]:
    data = json.loads(text) if text else {}
    if not isinstance(data, dict):
        return {}
    return {str(key): StatusRow.from_json(row) for key, row in data.items() if isinstance(row, Mapping)}


@dataclass
class DynamoSnapshotStore:
    client: Any
    table: str

    def load(self) -> Snapshot | None:
        item = self._call("get_item", TableName=self.table, Key=_key(SNAPSHOT_PK, ROWS_SK)).get("Item")
        if not item:
            return None
        try:
            return Snapshot(
                rows=rows_from_text(item.get("rows", {}).get("S", "")),
                refreshed_at=float(item["refreshedAt"]["N"]),
                pages=int(item.get("pages", {}).get("N", "1")),
                complete=bool(item.get("complete", {}).get("BOOL", True)),
            )
        except (KeyError, ValueError):
            return None  # an item this code did not write: as good as none

    def save(self, snapshot: Snapshot, *, keep: Iterable[str] = ()) -> bool:
        text, complete = rows_text(snapshot.rows, keep)
        item = _key(SNAPSHOT_PK, ROWS_SK) | {
            "rows": {"S": text},
            "refreshedAt": to_attr(round(snapshot.refreshed_at, 3)),
            "pages": to_attr(snapshot.pages),
            "complete": {"BOOL": complete and snapshot.complete},
            "expiresAt": to_attr(int(snapshot.refreshed_at) + SNAPSHOT_LIFETIME_SECONDS),
        }
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR refreshedAt < :mine",
                ExpressionAttributeValues={":mine": to_attr(round(snapshot.refreshed_at, 3))},
            )
        except _LostRace:
            return False
        return True

    def take_lease(self, holder: str, *, now: float, until: float) -> bool:
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=_lease_item(holder, until),
                ConditionExpression="attribute_not_exists(pk) OR leaseUntil < :now",
                ExpressionAttributeValues={":now": to_attr(round(now, 3))},
            )
        except _LostRace:
            return False
        return True

    def release_lease(self, holder: str) -> None:
        # If it ran out and someone else holds it now, it is theirs to release.
        with contextlib.suppress(_LostRace):
            self._call(
                "delete_item",
                TableName=self.table,
                Key=_key(SNAPSHOT_PK, LEASE_SK),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": to_attr(holder)},
            )

    def back_off(self, holder: str, *, until: float) -> None:
        with contextlib.suppress(_LostRace):
            self._call(
                "put_item",
                TableName=self.table,
                Item=_lease_item(BACKING_OFF, until),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": to_attr(holder)},
            )

    def lease_holder(self, *, now: float) -> str | None:
        item = self._call("get_item", TableName=self.table, Key=_key(SNAPSHOT_PK, LEASE_SK)).get("Item")
        if not item or float(item.get("leaseUntil", {}).get("N", "0")) < now:
            return None
        return str(item.get("holder", {}).get("S", ""))

    def watch(
        self, operation_id: str, *, instance_id: str | None, expires_at: float, read_at: float, booting: float
    ) -> None:
        item = _key(WATCH_PK, operation_id) | {
            "expiresAt": to_attr(int(expires_at) + 1),
            "readAt": to_attr(round(read_at, 3)),
            "booting": to_attr(round(booting, 3)),
        }
        if instance_id:
            item["instanceId"] = to_attr(instance_id)
        self._call("put_item", TableName=self.table, Item=item)

    def unwatch(self, operation_id: str) -> None:
        self._call("delete_item", TableName=self.table, Key=_key(WATCH_PK, operation_id))

    def watching(self, *, now: float) -> list[Watch]:
        watches: list[Watch] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            # TTL deletes expired items only eventually: leave them out here.
            "FilterExpression": "expiresAt > :now",
            "ExpressionAttributeValues": {":pk": to_attr(WATCH_PK), ":now": to_attr(int(now))},
        }
        while True:
            page = self._call("query", **kwargs)
            for item in page.get("Items", []):
                watches.append(
                    Watch(
                        operation_id=item["sk"]["S"],
                        instance_id=item.get("instanceId", {}).get("S"),
                        expires_at=float(item["expiresAt"]["N"]),
                        read_at=float(item.get("readAt", {}).get("N", "0")),
                        booting=float(item.get("booting", {}).get("N", "1")),
                    )
                )
            if not page.get("LastEvaluatedKey"):
                return watches
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            if condition_failed(exc):
                raise _LostRace from None
            raise SnapshotStoreUnavailable(f"DynamoDB {operation} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise SnapshotStoreUnavailable(f"DynamoDB {operation} failed: {exc}") from exc
        return result


class _LostRace(Exception):
    """A condition failed: someone else got there first (an expected outcome, not an error)."""


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _lease_item(holder: str, until: float) -> dict[str, Any]:
    return _key(SNAPSHOT_PK, LEASE_SK) | {
        "holder": to_attr(holder),
        "leaseUntil": to_attr(round(until, 3)),
        "expiresAt": to_attr(int(until) + SNAPSHOT_LIFETIME_SECONDS),
    }
