"""Fixtures shared by every test tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dynamodb_local import DynamoDBLocal, started


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """DynamoDB Local, in memory, on a free loopback port, for the whole test session."""
    db = started()
    try:
        yield db
    finally:
        db.stop()
