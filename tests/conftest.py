"""Fixtures shared by every test tier."""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novita_local.permissions import (
    Call,
    check,
    load_skips,
    session_recorder,
    start_session_recording,
    template_grants,
)
from novita_local.template import TEMPLATE_PATH
from tests.support.dialects import BOTH, EVERY, dialect_id, forget_learned_paging
from tests.support.dynamodb_local import DynamoDBLocal, started
from tests.support.simulator import Simulator, session_simulator


def pytest_configure(config: pytest.Config) -> None:
    """Record every AWS call the functions and state machines make on the local engine."""
    start_session_recording()


def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist (``make test`` runs the tiers on two workers): a worker's recorded calls join the
    controller's, which runs the proof over all of them."""
    recorder = session_recorder()
    rows = getattr(node, "workeroutput", {}).get("permission_calls") or []
    if recorder is not None:
        recorder.merge(
            Counter({Call(runner, action, resource): int(n) for runner, action, resource, n in rows})
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The permission proof: each recorded call must be allowed by its runner's role in the translated
    template; with PERMISSION_PROOF=full (``make test``, every tier ran) each granted action must
    also be used by some call or explained in tools/permissions-unused.yaml. PERMISSION_CALLS=<path>
    keeps the calls (``make permissions`` renders docs/PERMISSIONS.md from them)."""
    recorder = session_recorder()
    if recorder is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller judges every worker's calls
        workeroutput["permission_calls"] = [
            [c.runner, c.action, c.resource, n] for c, n in recorder.calls.items()
        ]
        return
    if not recorder.calls:
        return
    if os.environ.get("PERMISSION_CALLS"):
        recorder.save(Path(os.environ["PERMISSION_CALLS"]))
    full = os.environ.get("PERMISSION_PROOF") == "full" and exitstatus == 0
    verdict = check(recorder.calls, template_grants(TEMPLATE_PATH), skips=load_skips(), require_use=full)
    if verdict.ok:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["least privilege proof failed:", *verdict.lines()]
    if reporter is not None:
        reporter.write_line("\n".join(lines), red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``dialects``: default + all at once; with ``@pytest.mark.every_dialect`` each one alone too."""
    if "dialects" in metafunc.fixturenames:
        cases = EVERY if metafunc.definition.get_closest_marker("every_dialect") else BOTH
        metafunc.parametrize("dialects", cases, ids=[dialect_id(c) for c in cases], indirect=True)


@pytest.fixture(autouse=True)
def _short_collections() -> None:
    """Collect, then freeze what survives, before each test.

    The session's heap grows large (engines, moto, botocore), and a full collection of it
    stopped every thread for 0.2-0.7 s. Time-scaled tests run 100 simulated seconds per real
    one, so such a pause could eat a Novita call's whole 30 s budget (RateLimitExhausted) or let one
    operation finish before its rival started: about one `make test` in two failed a case that way.
    Frozen objects are not scanned again, so pauses inside a test stay under 0.2 s; the cost is the
    memory of objects that die after being frozen (peak RSS about 0.67 GB instead of 0.53 GB).
    """
    gc.collect()
    gc.freeze()


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
