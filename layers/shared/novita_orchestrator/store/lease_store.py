"""Auto-stop leases on the ``OperationsTable`` (``pk = LEASE#<instanceId>``, ``sk = LEASE``).

One item per instance, replaced only if its ``revision`` is still the one read (optimistic
concurrency: the API's heartbeats, the watcher's claim and a new start's supersede never overwrite
each other). ``expiresAt`` is the table's TTL attribute: a lease item is kept a week past its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, cast

from botocore.exceptions import ClientError

from novita_orchestrator.store.dynamo import condition_failed, from_item, to_attr, to_item

LeaseState = Literal["active", "cancelled", "superseded", "claimed"]
ACTIVE: Final = "active"
CANCELLED: Final = "cancelled"
SUPERSEDED: Final = "superseded"
CLAIMED: Final = "claimed"

LEASE_SK = "LEASE"
#: A lease item outlives its end by this much (then DynamoDB's TTL deletes it).
LEASE_KEPT_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Lease:
    instance_id: str
    #: One per lease set (a new start's lease is the next version).
    version: int
    #: One per write (the store's optimistic concurrency).
    revision: int
    #: The start or create that set it.
    operation_id: str
    state: LeaseState
    #: Epoch seconds at which it runs out regardless of heartbeats (None: idle only).
    stop_at: float | None
    #: Seconds after the last heartbeat at which it runs out (None: fixed time only).
    idle_seconds: float | None
    #: Seconds before running out that ``instance.autostop.pending`` is sent.
    warn_seconds: float
    last_heartbeat_at: float
    #: The expiry the warning was sent for (a postponed lease warns again).
    warned_for: float | None = None
    webhook_url: str | None = None
    #: The stop operation a claimed lease started.
    stop_operation_id: str | None = None

    @property
    def expires_at(self) -> float:
        candidates = [self.stop_at] if self.stop_at is not None else []
        if self.idle_seconds is not None:
            candidates.append(self.last_heartbeat_at + self.idle_seconds)
        return min(candidates)

    @property
    def warn_at(self) -> float:
        return self.expires_at - self.warn_seconds

    @property
    def warned(self) -> bool:
        return self.warned_for is not None and self.warned_for == self.expires_at


class LeaseChanged(Exception):
    """The lease was changed (or set) by someone else since it was read: read it again."""


def lease_key(instance_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"LEASE#{instance_id}"}, "sk": {"S": LEASE_SK}}


class LeaseStore(Protocol):
    def get(self, instance_id: str) -> Lease | None: ...

    def put(self, lease: Lease, *, replacing: Lease | None) -> None:
        """Write ``lease`` if the stored one is still ``replacing`` (None: there is none), else
        :class:`LeaseChanged`."""
        ...


class DynamoLeaseStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, instance_id: str) -> Lease | None:
        item = self._client.get_item(
            TableName=self._table, Key=lease_key(instance_id), ConsistentRead=True
        ).get("Item")
        return _lease(from_item(item)) if item else None

    def put(self, lease: Lease, *, replacing: Lease | None) -> None:
        values = {
            "instanceId": lease.instance_id,
            "version": lease.version,
            "revision": lease.revision,
            "operationId": lease.operation_id,
            "state": lease.state,
            "stopAt": lease.stop_at,
            "idleSeconds": lease.idle_seconds,
            "warnSeconds": lease.warn_seconds,
            "lastHeartbeatAt": lease.last_heartbeat_at,
            "warnedFor": lease.warned_for,
            "webhookUrl": lease.webhook_url,
            "stopOperationId": lease.stop_operation_id,
            "leaseExpiresAt": lease.expires_at,
            "expiresAt": int(lease.expires_at) + LEASE_KEPT_SECONDS,
        }
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if replacing is not None:
            condition = {
                "ConditionExpression": "#rev = :rev",
                "ExpressionAttributeNames": {"#rev": "revision"},
                "ExpressionAttributeValues": {":rev": to_attr(replacing.revision)},
            }
        try:
            self._client.put_item(
                TableName=self._table, Item=to_item(values) | lease_key(lease.instance_id), **condition
            )
        except ClientError as exc:
            if condition_failed(exc):
                raise LeaseChanged(f"the lease of {lease.instance_id} changed meanwhile") from None
            raise


def _lease(data: dict[str, Any]) -> Lease:
    def number(name: str) -> float | None:
        value = data.get(name)
        return float(value) if value is not None else None

    return Lease(
        instance_id=str(data["instanceId"]),
        version=int(data["version"]),
        revision=int(data["revision"]),
        operation_id=str(data.get("operationId") or ""),
        state=cast(LeaseState, str(data.get("state") or "active")),
        stop_at=number("stopAt"),
        idle_seconds=number("idleSeconds"),
        warn_seconds=float(data.get("warnSeconds") or 0),
        last_heartbeat_at=float(data.get("lastHeartbeatAt") or 0),
        warned_for=number("warnedFor"),
        webhook_url=data.get("webhookUrl"),
        stop_operation_id=data.get("stopOperationId"),
    )
