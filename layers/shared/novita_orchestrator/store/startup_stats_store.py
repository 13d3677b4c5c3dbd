"""Recent startup durations per product on the ``OperationsTable`` (adaptive polling's history).

``pk = STATS#<productId>``, ``sk = <ISO time>#<operationId>``: the sort key orders them by time,
so the newest N are one query. The time in the key is when the instance was first seen running,
which a retried step rebuilds the same, so a retry rewrites the same item instead of adding one.
"""

from __future__ import annotations

from typing import Any, Protocol

from novita_orchestrator.store.dynamo import to_attr

#: Durations older than this are left to DynamoDB's TTL: products change, old boots mislead.
STATS_LIFETIME_SECONDS = 30 * 24 * 3600


class StartupStatsStore(Protocol):
    """Recent startup durations per product, newest first."""

    def record(
        self, product_id: str, *, operation_id: str, running_at: str, duration_seconds: float, now: float
    ) -> None:
        """Remember one startup; recording the same (operation, running_at) again keeps one entry."""
        ...

    def recent(self, product_id: str, limit: int) -> list[float]:
        """The newest ``limit`` durations (seconds), newest first."""
        ...


class DynamoStartupStatsStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record(
        self, product_id: str, *, operation_id: str, running_at: str, duration_seconds: float, now: float
    ) -> None:
        """Remember one startup: ``running_at`` (ISO) is when it was first seen running."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": to_attr(f"STATS#{product_id}"),
                "sk": to_attr(f"{running_at}#{operation_id}"),
                "operationId": to_attr(operation_id),
                "durationSeconds": to_attr(round(duration_seconds, 3)),
                "expiresAt": to_attr(int(now) + STATS_LIFETIME_SECONDS),
            },
        )

    def recent(self, product_id: str, limit: int) -> list[float]:
        """The newest ``limit`` durations (seconds), newest first."""
        if limit <= 0:
            return []
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": to_attr(f"STATS#{product_id}")},
            ScanIndexForward=False,
            Limit=limit,
            ProjectionExpression="durationSeconds",
        )
        return [float(item["durationSeconds"]["N"]) for item in response.get("Items", [])]
