"""The operations-table adapters' DynamoDB attribute values: what is written reads back as it was."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from novita_orchestrator.store.dynamo import from_item, to_attr, to_item


def test_an_item_reads_back_as_written() -> None:
    values: dict[str, Any] = {
        "pk": "op-1",
        "phase": "polling",
        "polls": 3,
        "deadline": 1767225600.25,
        "ready": False,
        "notifications": [{"type": "instance.startup.progress", "at": 1767225601.5}],
        "timings": {"resolving": 0.2, "polling": 12},
        "ports": {"8080", "22"},
        "empty": None,  # left out of the item: a missing attribute
    }

    item = to_item(values)

    assert "empty" not in item
    assert from_item(item) == {key: value for key, value in values.items() if value is not None}


def test_numbers_are_written_as_exact_decimal_text() -> None:
    assert to_attr(0.1) == {"N": "0.1"}
    assert to_attr(10**20) == {"N": "100000000000000000000"}
    assert to_attr(Decimal("2.50")) == {"N": "2.50"}
    assert to_attr(True) == {"BOOL": True}  # a bool is not the number 1
    assert from_item({"n": {"N": "2.0"}, "f": {"N": "2.5"}}) == {"n": 2, "f": 2.5}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), set(), {1, "a"}, object()])
def test_values_dynamodb_cannot_hold_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        to_attr(value)
