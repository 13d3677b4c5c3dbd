"""Fixtures shared by every test tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dynamodb_local import DynamoDBLocal, started
from tests.support.simulator import Simulator, session_simulator


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """DynamoDB Local, in memory, on a free loopback port, for the whole test session."""
    db = started()
    try:
        yield db
    finally:
        db.stop()


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """The session's Novita simulator (``.base_url``, ``.admin``, ``.api_key``), reset to the default
    seed before each test: default timings, time scale 1, no faults, empty journal, no rate limit."""
    sim = session_simulator()
    sim.admin.reset()
    yield sim
