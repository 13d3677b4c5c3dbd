"""Small helpers shared by the operations-table adapters (plain DynamoDB attribute values)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_attr(value: Any) -> dict[str, Any]:
    result: dict[str, Any] = _SERIALIZER.serialize(_decimals(value))
    return result


def _decimals(value: Any) -> Any:
    """Floats as Decimals (DynamoDB's number type), inside maps and lists too."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: to_attr(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    """Decimals back to int/float; sets and maps walked recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def old_item(exc: ClientError) -> dict[str, Any]:
    """The item a failed condition saw (requests ask for it with ReturnValuesOnConditionCheckFailure)."""
    item: dict[str, Any] = exc.response.get("Item") or {}
    return from_item(item)
