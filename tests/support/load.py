"""The load run: many operations started at once through the local REST API, against the simulator
holding a global limit of 10 requests/s, with the service's shared rate limiter set at or under it.

Two boot settings: ``"1s"`` (every instance runs one second after its start: the run measures the
orchestration) and ``"realistic"`` (boot times drawn evenly from 30-120 s, seeded, with the default
polling settings). Shared status reads are on, as the template deploys them.

Used by ``tests/reliability/test_load.py`` (a smaller run in ``make test``, the full 200 in
``make soak``) and by ``tests/bench/bench_load.py`` (``load.*`` in ``make bench``). Loopback only;
the count and the time are bounded. The run is metered (``tests/support/aws_meter.py``): the AWS
calls, request units and handler seconds behind each operation, for ``cost.*``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from novita_local.operations import Operation, follow, local_engine, start_request
from novita_local.serve import ApiServer
from novita_local.simulator import Simulator
from tests.support.aws_meter import Meter, metering
from tests.support.resilience_workers import max_in_any_window

Boots = Literal["1s", "realistic"]

#: The simulator's global limit (what "Novita" allows) and the service's own shared limit under it.
NOVITA_LIMIT_PER_SECOND = 10.0
SERVICE_LIMIT_PER_SECOND = 10.0
# Burst 1: the service never sends more than 1 + 10·T requests in T seconds, so loopback jitter has
# the simulator's whole bucket (10) to spare before it would answer 429.
SERVICE_BURST = 1
PRODUCT = "prod-rtx4090-24g"
MAX_OPERATIONS = 500
MAX_SECONDS = 900.0
CONNECT_ATTEMPTS = 5
#: Realistic boots: evenly between these (seconds), drawn with this seed.
REALISTIC_BOOT_SECONDS = (30.0, 120.0)
BOOT_SEED = 14


@dataclass(frozen=True)
class LoadResult:
    operations: int
    accepted: int
    ready: int
    failed: int
    unfinished: int
    elapsed_s: float
    operations_per_minute: float
    novita_requests: int
    novita_429s: int
    peak_requests_per_second: int
    terminal_notifications: list[int]  # per operation: how many terminal notifications it sent
    api_requests_resent: int  # POSTs sent again after a connection reset (same Idempotency-Key)
    limits: Limits
    boots: Boots = "1s"
    novita_by_endpoint: dict[str, int] = field(default_factory=dict)
    #: States entered, summed over the executions (Step Functions Standard bills each).
    transitions: int = 0
    meter: Meter | None = None

    @property
    def requests_per_operation(self) -> float:
        return self.novita_requests / max(1, self.operations)

    def as_json(self) -> dict[str, Any]:
        return {
            "boots": self.boots,
            "requests_per_operation": round(self.requests_per_operation, 2),
            "novita_by_endpoint": self.novita_by_endpoint,
            "operations": self.operations,
            "accepted": self.accepted,
            "ready": self.ready,
            "failed": self.failed,
            "elapsed_s": round(self.elapsed_s, 1),
            "operations_per_minute": round(self.operations_per_minute, 1),
            "novita_requests": self.novita_requests,
            "novita_429s": self.novita_429s,
            "peak_requests_per_second": self.peak_requests_per_second,
            "novita_limit_per_second": self.limits.novita_per_second,
            "service_limit_per_second": self.limits.service_per_second,
            "api_requests_resent": self.api_requests_resent,
            "transitions": self.transitions,
            "lambda_invocations": (
                {name: len(times) for name, times in sorted(self.meter.handler_seconds.items())}
                if self.meter is not None
                else {}
            ),
        }


def boot_seconds(count: int, boots: Boots) -> list[float]:
    if boots == "1s":
        return [1.0] * count
    draw = random.Random(BOOT_SEED)
    return [round(draw.uniform(*REALISTIC_BOOT_SECONDS), 1) for _ in range(count)]


def load_instances(count: int, boots: Boots = "1s") -> list[dict[str, Any]]:
    """Exited instances that boot in the given times and have no ports (healthy once running)."""
    return [
        {
            "id": f"inst-load-{n:03d}",
            "name": f"load-{n:03d}",
            "status": "exited",
            "productId": PRODUCT,
            "ports": "",
            "timings": {"toStart": 0, "starting": seconds},
        }
        for n, seconds in enumerate(boot_seconds(count, boots))
    ]


@dataclass(frozen=True)
class Limits:
    """Novita's global limit (the simulator's) and the service's shared limiter under it."""

    novita_per_second: float = NOVITA_LIMIT_PER_SECOND
    service_per_second: float = SERVICE_LIMIT_PER_SECOND
    service_burst: int = SERVICE_BURST


#: Limits far above what the engine can drive: the run measures the orchestration itself.
UNTHROTTLED = Limits(novita_per_second=500.0, service_per_second=500.0, service_burst=50)


def load_environment(
    simulator: Simulator, api_key: str, boots: Boots = "1s", limits: Limits = Limits()
) -> dict[str, str]:
    # One-second boots poll every 1-2 s; realistic ones with the default (adaptive) polling.
    polling = {"POLL_MIN_SECONDS": "1", "POLL_MAX_SECONDS": "2"} if boots == "1s" else {}
    return {
        "NOVITA_BASE_URL": simulator.base_url,
        "NOVITA_API_KEY": api_key,
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",
        # RESILIENCE_TABLE_NAME comes from the template: the limiter is the deployment-wide one.
        "NOVITA_RATE_LIMIT_PER_SECOND": str(limits.service_per_second),
        "NOVITA_RATE_BURST": str(limits.service_burst),
        # Waiting for a rate slot counts against a call's budget: room for a long queue.
        "NOVITA_RETRY_BUDGET_SECONDS": "600",
        "STARTUP_TIMEOUT_SECONDS": "3600",
        **polling,
    }


def run_load(
    simulator: Simulator,
    api_key: str,
    count: int,
    *,
    boots: Boots = "1s",
    timeout: float = MAX_SECONDS,
    limits: Limits = Limits(),
) -> LoadResult:
    """Start ``count`` operations at once through the API, wait for all of them, measure."""
    if not 0 < count <= MAX_OPERATIONS:
        raise ValueError(f"count must be within 1..{MAX_OPERATIONS}")
    simulator.admin.reset()
    simulator.admin.set_config(time_scale=1)
    simulator.admin.add_instances(load_instances(count, boots))
    simulator.admin.set_rate_limit(limits.novita_per_second)
    try:
        with (
            local_engine(load_environment(simulator, api_key, boots, limits)) as engine,
            ApiServer(engine, port=0, deliver_webhooks=False) as server,
            metering() as meter,
        ):
            simulator.admin.clear_journal()
            began = time.monotonic()
            accepted, resent = _start_all(server.url, count, timeout)
            machine = engine.resource_arn("StartInstanceStateMachine")
            arns = {
                e["name"]: e["executionArn"]
                for e in _all_executions(engine.boto_client("stepfunctions"), machine)
            }
            operations = [
                Operation(operation_id=op_id, request=start_request(ref), execution_arn=arns[op_id])
                for ref, op_id in accepted.items()
            ]
            unfinished = 0
            # One listing of the running executions a second, not a describe of each (200 describes
            # twice a second were a tenth of the engine's time); then every outcome once.
            _await_executions(engine, machine, deadline=began + timeout)
            ended = time.monotonic()
            try:
                follow(engine, operations, timeout=10.0)
            except TimeoutError:
                unfinished = sum(1 for op in operations if not op.finished)
            elapsed = ended - began
            transitions = sum(_states_entered(engine, op.execution_arn) for op in operations)
    finally:
        simulator.admin.set_rate_limit(None)
    journal = simulator.admin.journal()
    statuses = [op.status for op in operations]
    by_endpoint: dict[str, int] = {}
    for entry in journal:
        key = f"{entry['method']} {entry['path']}"
        by_endpoint[key] = by_endpoint.get(key, 0) + 1
    return LoadResult(
        operations=count,
        accepted=len(accepted),
        ready=statuses.count("ready"),
        failed=statuses.count("failed"),
        unfinished=unfinished,
        elapsed_s=elapsed,
        operations_per_minute=(count - unfinished) / elapsed * 60.0,
        novita_requests=len(journal),
        novita_429s=sum(1 for entry in journal if entry["status"] == 429),
        peak_requests_per_second=max_in_any_window([float(entry["time"]) for entry in journal], 1.0),
        terminal_notifications=[sum(1 for n in op.notifications if n.terminal) for op in operations],
        api_requests_resent=resent,
        limits=limits,
        boots=boots,
        novita_by_endpoint=dict(sorted(by_endpoint.items())),
        transitions=transitions,
        meter=meter,
    )


def _states_entered(engine: Any, execution_arn: str) -> int:
    return sum(
        1 for event in engine.execution_history(execution_arn) if event["type"].endswith("StateEntered")
    )


def _start_all(url: str, count: int, timeout: float) -> tuple[Mapping[str, str], int]:
    """POST every start at once (one thread each): (instance ref -> operation ID of each 202, resends)."""
    accepted: dict[str, str] = {}
    resent = [0]
    lock = threading.Lock()
    local = threading.local()

    def post(n: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False  # loopback only
        ref = f"inst-load-{n:03d}"
        # The key makes a repeat safe: a connection reset while 200 connect at once (the local server's
        # listen backlog) is sent again and answered with the same operation, never a second one.
        headers = {"Idempotency-Key": f"load-{ref}"}
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                answer = session.post(
                    f"{url}/instances/{ref}/start", json={}, headers=headers, timeout=timeout
                )
                break
            except requests.ConnectionError:
                if attempt + 1 == CONNECT_ATTEMPTS:
                    raise
                with lock:
                    resent[0] += 1
                time.sleep(0.2 * (attempt + 1))
        if answer.status_code != 202:
            raise AssertionError(f"{ref}: HTTP {answer.status_code} {answer.text}")
        with lock:
            accepted[ref] = answer.json()["operationId"]

    with ThreadPoolExecutor(max_workers=count) as pool:
        for future in [pool.submit(post, n) for n in range(count)]:
            future.result()
    return accepted, resent[0]


def _await_executions(engine: Any, machine: str, *, deadline: float) -> None:
    """Until no execution runs (or the deadline), looking once a second."""
    client = engine.boto_client("stepfunctions")
    while time.monotonic() < deadline:
        if not _all_executions(client, machine, status="RUNNING"):
            return
        time.sleep(1.0)


def _all_executions(client: Any, machine: str, status: str | None = None) -> list[dict[str, Any]]:
    executions: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"stateMachineArn": machine}
    if status is not None:
        kwargs["statusFilter"] = status
    while True:
        page = client.list_executions(**kwargs)
        executions.extend(page["executions"])
        if not page.get("nextToken"):
            return executions
        kwargs["nextToken"] = page["nextToken"]
