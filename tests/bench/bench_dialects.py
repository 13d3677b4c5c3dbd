"""What each Novita dialect costs in requests: the lookups and actions of a start by name.

For the default answers, each dialect alone and all at once, against the simulator: the requests a
fresh client (a cold Lambda) and a warm one (the next operation in the same process) send to resolve
``dev-box`` (one instance of that name) and ``trainer`` (its fuzzy filter also matches
``trainer-01`` ... ``trainer-45``), the start of an exited instance, and the start of one already
starting (refused by Novita, then read back). Counts, not times: they do not depend on the machine.
"""

from __future__ import annotations

from typing import Any

import requests

from novita_local.simulator import Simulator
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.observability import logger
from novita_orchestrator.settings import NovitaSettings
from novita_orchestrator.steps.resolve_target import find_instance
from tests.support.dialects import EVERY, dialect_id

KEY = "bench-key-for-the-simulator"
NAMESAKES = [{"name": f"trainer-{n:02}"} for n in range(1, 46)]


def _client(simulator: Simulator) -> NovitaClient:
    session = requests.Session()
    session.trust_env = False  # loopback only
    return NovitaClient(
        NovitaSettings(NOVITA_API_KEY=KEY, NOVITA_BASE_URL=simulator.base_url), session=session
    )


def _counted(simulator: Simulator, action: Any) -> int:
    simulator.admin.clear_journal()
    action()
    return len(simulator.admin.journal())


def _costs(dialects: tuple[str, ...]) -> dict[str, int]:
    with Simulator(api_key=KEY, time_scale=0, dialects=dialects) as simulator:
        simulator.admin.add_instances(NAMESAKES)
        cold = _client(simulator)
        costs = {
            "resolve_dev_box_cold": _counted(simulator, lambda: find_instance(cold, "dev-box")),
            "resolve_dev_box_warm": _counted(simulator, lambda: find_instance(cold, "dev-box")),
            "resolve_trainer_warm": _counted(simulator, lambda: find_instance(cold, "trainer")),
            "start_exited": _counted(simulator, lambda: cold.start_instance("inst-dev-box")),
            "start_already_starting": _counted(simulator, lambda: cold.start_instance("inst-dev-box")),
        }
        fresh = _client(simulator)
        costs["resolve_trainer_cold"] = _counted(simulator, lambda: find_instance(fresh, "trainer"))
        return costs


def run() -> dict[str, object]:
    level = logger.log_level
    logger.setLevel("WARNING")  # the client logs each refusal; the figures are what matters here
    try:
        return {"dialects": {dialect_id(case): _costs(case) for case in EVERY}}
    finally:
        logger.setLevel(level)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
