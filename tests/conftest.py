"""Fixtures shared by every test tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dialects import BOTH, EVERY, dialect_id, forget_learned_paging
from tests.support.dynamodb_local import DynamoDBLocal, started
from tests.support.simulator import Simulator, session_simulator


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``dialects``: default + all at once; with ``@pytest.mark.every_dialect`` each one alone too."""
    if "dialects" in metafunc.fixturenames:
        cases = EVERY if metafunc.definition.get_closest_marker("every_dialect") else BOTH
        metafunc.parametrize("dialects", cases, ids=[dialect_id(c) for c in cases], indirect=True)


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


@pytest.fixture
def dialects(request: pytest.FixtureRequest, simulator: Simulator) -> tuple[str, ...]:
    """The dialects the (freshly reset) simulator speaks in this test (see tests/support/dialects.py)."""
    names: tuple[str, ...] = request.param
    simulator.admin.set_dialects(*names)
    forget_learned_paging()
    return names
