"""Per-instance locks on the ``OperationsTable`` (``pk = LOCK#<key>``, ``sk = LOCK``).

A lock is taken by one conditional write: free, already ours (a retried step), or expired. The
expiry (``expiresAt``, also the table's TTL attribute) bounds how long a crashed operation can block
an instance; an expired lock that DynamoDB has not yet deleted is taken over by the same condition.
Only the holder can release it.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import ClientError

from novita_orchestrator.store.dynamo import condition_failed, old_item, to_attr
from novita_orchestrator.times import iso

LOCK_SK = "LOCK"


class LockHeld(Exception):
    """Another operation holds the lock; ``holder`` is its operation ID."""

    def __init__(self, key: str, holder: str) -> None:
        super().__init__(f"{key} is locked by operation {holder}")
        self.key = key
        self.holder = holder


def lock_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"LOCK#{key}"}, "sk": {"S": LOCK_SK}}


class LockStore(Protocol):
    """Per-instance locks: one holder at a time, until it releases the lock or the lock expires."""

    def acquire(self, key: str, *, operation_id: str, now: float, expires_at: float) -> None:
        """Take the lock for ``operation_id`` until ``expires_at`` (epoch s), or raise :class:`LockHeld`.

        Taking a lock one already holds succeeds (a retried step); an expired lock is taken over."""
        ...

    def release(self, key: str, *, operation_id: str) -> bool:
        """Delete the lock if ``operation_id`` holds it; False when someone else (or no one) does."""
        ...

    def holder(self, key: str) -> str | None:
        """The operation holding the lock (an expired lock not yet deleted still names its holder)."""
        ...


class DynamoLockStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def acquire(self, key: str, *, operation_id: str, now: float, expires_at: float) -> None:
        """Take the lock for ``operation_id`` until ``expires_at`` (epoch s), or raise :class:`LockHeld`."""
        item = lock_key(key) | {
            "operationId": to_attr(operation_id),
            "acquiredAt": to_attr(iso(now)),
            "expiresAt": to_attr(int(expires_at)),
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #op = :me OR #exp < :now",
                ExpressionAttributeNames={"#op": "operationId", "#exp": "expiresAt"},
                ExpressionAttributeValues={":me": to_attr(operation_id), ":now": to_attr(int(now))},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            holder = str(old_item(exc).get("operationId") or "unknown")
            raise LockHeld(key, holder) from None

    def release(self, key: str, *, operation_id: str) -> bool:
        """Delete the lock if ``operation_id`` holds it; False when someone else (or no one) does."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=lock_key(key),
                ConditionExpression="#op = :me",
                ExpressionAttributeNames={"#op": "operationId"},
                ExpressionAttributeValues={":me": to_attr(operation_id)},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def holder(self, key: str) -> str | None:
        response = self._client.get_item(TableName=self._table, Key=lock_key(key), ConsistentRead=True)
        item = response.get("Item")
        return str(item["operationId"]["S"]) if item else None
