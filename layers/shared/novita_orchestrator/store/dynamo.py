"""Small helpers shared by the operations-table adapters (plain DynamoDB attribute values)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

# The attribute values are written here rather than with boto3.dynamodb.types: importing that imports
# boto3 itself, which the functions otherwise do without (novita_orchestrator.deps.Aws says why).


def to_attr(value: Any) -> dict[str, Any]:
    """A DynamoDB attribute value; numbers are sent as their exact decimal text (floats via repr)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(key): to_attr(item) for key, item in value.items()}}
    if isinstance(value, Set):
        return _set(value)
    if isinstance(value, Sequence):
        return {"L": [to_attr(item) for item in value]}
    raise TypeError(f"no DynamoDB attribute value for {type(value).__name__}")


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: to_attr(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: from_attr(value) for key, value in item.items()}


def from_attr(attr: dict[str, Any]) -> Any:
    """The plain value: numbers as int (integral) or float; maps and lists walked; sets as sets."""
    (kind, value), *_ = attr.items()
    if kind == "N":
        return _plain_number(value)
    if kind in {"S", "BOOL", "B"}:
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: from_attr(item) for key, item in value.items()}
    if kind == "L":
        return [from_attr(item) for item in value]
    if kind == "SS" or kind == "BS":
        return set(value)
    if kind == "NS":
        return {_plain_number(number) for number in value}
    raise TypeError(f"unknown DynamoDB attribute type {kind!r}")


def _number(value: int | float | Decimal) -> str:
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise TypeError("DynamoDB numbers are finite (not Infinity or NaN)")
    return str(number)


def _plain_number(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)


def _set(values: Set[Any]) -> dict[str, Any]:
    if values and all(isinstance(v, str) for v in values):
        return {"SS": list(values)}
    if values and all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values):
        return {"NS": [_number(v) for v in values]}
    if values and all(isinstance(v, bytes) for v in values):
        return {"BS": list(values)}
    raise TypeError("a DynamoDB set is non-empty and of strings, numbers or bytes only")


def condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def old_item(exc: ClientError) -> dict[str, Any]:
    """The item a failed condition saw (requests ask for it with ReturnValuesOnConditionCheckFailure)."""
    item: dict[str, Any] = exc.response.get("Item") or {}
    return from_item(item)
