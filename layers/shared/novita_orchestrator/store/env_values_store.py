"""The values of a create's environment variables, kept server-side (``OperationsTable``,
``pk = ENVS#<operationId>``, ``sk = ENVS``) so they never travel in the execution's input or history.

Step Functions keeps an execution's input and every state's data for 90 days, readable by anyone
with ``states:DescribeExecution`` / ``GetExecutionHistory``; the values often are tokens. So the API
and the trigger put them here, the execution carries their names only (``$.storedEnvs.names``) and
LaunchInstance reads them back, deleting the item once Novita has created the instance. The item
expires through the table's TTL (``expiresAt``) if the operation never gets that far.

Why DynamoDB and not Secrets Manager: the values live for one operation's first minutes; a secret
per operation costs a monthly fee, a CreateSecret rate limit and a 7-day minimum deletion window,
while this table is already there, encrypted at rest, reachable only by the functions whose policy
names it, and expires items by itself.
"""

from __future__ import annotations

from typing import Any, Protocol

from novita_orchestrator.store.dynamo import from_item, to_attr

ENVS_SK = "ENVS"
#: Longer than any operation may take (STARTUP_TIMEOUT_SECONDS is at most a day).
ENV_VALUES_LIFETIME_SECONDS = 2 * 24 * 3600


def env_values_key(operation_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ENVS#{operation_id}"}, "sk": {"S": ENVS_SK}}


class EnvValuesStore(Protocol):
    """Environment values of one operation's create, by operation ID."""

    def put(self, operation_id: str, values: dict[str, str], *, expires_at: float) -> None: ...

    def get(self, operation_id: str) -> dict[str, str] | None:
        """The values, or None when there are none (never stored, expired, or already used)."""
        ...

    def delete(self, operation_id: str) -> None: ...


class DynamoEnvValuesStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put(self, operation_id: str, values: dict[str, str], *, expires_at: float) -> None:
        item = env_values_key(operation_id) | {
            "values": to_attr(dict(values)),
            "expiresAt": to_attr(int(expires_at)),
        }
        self._client.put_item(TableName=self._table, Item=item)

    def get(self, operation_id: str) -> dict[str, str] | None:
        answer = self._client.get_item(
            TableName=self._table, Key=env_values_key(operation_id), ConsistentRead=True
        )
        item = answer.get("Item")
        if not item:
            return None
        values = from_item(item).get("values") or {}
        return {str(name): str(value) for name, value in values.items()}

    def delete(self, operation_id: str) -> None:
        self._client.delete_item(TableName=self._table, Key=env_values_key(operation_id))
