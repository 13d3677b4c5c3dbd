"""The project's template on the local engine, for the workflow modules that run it (one per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from novita_local.engine import LocalEngine
from tests.support.simulator import session_simulator
from tests.support.workflow import workflow_engine


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    """The template wired to the session's simulator, time-scaled like it (a module may define its own)."""
    with workflow_engine(session_simulator()) as running:
        yield running
