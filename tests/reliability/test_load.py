"""Load: operations started at once through the local REST API, Novita limited to 10 requests/s.

``make test`` runs 30 operations (about half a minute); ``make soak`` runs the full 200
(``LOAD_OPERATIONS=200``, a few minutes: Novita's 10 requests/s is the bottleneck by design).
The run must see no 429 from Novita, every accepted operation must end in a terminal state with
exactly one terminal notification, and shared status reads must keep Novita's requests at most 2.5
per operation (counted, not timed). It reports operations per minute and the peak request
rate Novita saw (from the simulator's journal).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from novita_local.simulator import Simulator
from tests.support.load import NOVITA_LIMIT_PER_SECOND, Boots, run_load
from tests.support.simulator import TEST_API_KEY

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(1200)]

OPERATIONS = int(os.environ.get("LOAD_OPERATIONS", "30"))
#: Boot settings to run (``make soak``: both); one-second boots measure the orchestration alone.
BOOTS = os.environ.get("LOAD_BOOTS", "1s").split(",")


@pytest.mark.parametrize("boots", BOOTS)
def test_operations_started_at_once_all_end_without_a_single_429(
    simulator: Simulator, record_property: Callable[[str, object], None], boots: Boots
):
    result = run_load(simulator, TEST_API_KEY, OPERATIONS, boots=boots)

    print(
        f"\nload ({boots} boots): {result.operations} operations, "
        f"{result.requests_per_operation:.2f} requests each, "
        f"{result.operations_per_minute:.1f} operations/min, "
        f"peak {result.peak_requests_per_second} Novita requests in a second "
        f"(limit {NOVITA_LIMIT_PER_SECOND:g}/s), {result.novita_429s} x 429, {result.elapsed_s:.0f} s"
    )
    for name, value in result.as_json().items():
        record_property(name, value)
    assert result.accepted == OPERATIONS
    assert result.novita_429s == 0
    assert result.unfinished == 0
    assert result.ready + result.failed == OPERATIONS
    assert result.ready == OPERATIONS  # nothing here should fail: no faults are injected
    assert result.terminal_notifications == [1] * OPERATIONS
    if boots == "1s":
        # Shared reads: the start POST and the GET that sees "running" are all most operations cost.
        assert result.requests_per_operation <= 2.5, result.novita_by_endpoint
    # The peak is reported, not bounded here: arrival jitter on loopback can put one request more in
    # a window than the limiter admitted in it; the limiter's own exactness is rate_limiter.* in make bench.
    assert result.peak_requests_per_second > 0
