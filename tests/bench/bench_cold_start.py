"""Cold start of every function, init and its first event, as a ratio to ``import boto3`` + one client.

Each ``functions/<name>/app.py`` runs in a fresh interpreter (as Lambda's init), with the function's
directory and the layer on ``sys.path`` and the function's environment from ``template.yaml``,
pointed at real local services: DynamoDB Local (its tables from the template), the Novita simulator,
a loopback webhook receiver, and a loopback stand-in for Step Functions ``StartExecution`` and Secrets
Manager ``GetSecretValue`` (tests/support/aws_stub.py), so the Novita key and the webhook secret are
read from "Secrets Manager" at init as on AWS. The program times, from its first statement:

* ``init``: importing the handler module (settings validated, clients built, secrets read);
* ``first``: the handler's first event (a realistic one per function: see ``_events``);
* ``warm``: a second event of the same kind, in the same process.

The baseline, timed the same way in the same run, is ``import boto3`` plus one DynamoDB client. Each
program runs ``REPEATS`` times, interleaved with the baseline so that machine load affects them
alike; the figures are medians, as ratios to the baseline:

* ``cold_start.per_function`` / ``max_ratio`` (the headline): ``init + first - warm``, what the
  first invocation costs beyond a warm one (the event's own I/O, the same warm or cold, is netted
  out). Target: max <= 1.6.
* ``cold_start.library_floor``: what the chosen libraries alone cost (``FLOORS``: a workflow step's,
  and the API's with the event handler, validation and idempotency it must use), timed like the
  baseline: the part of each figure that no change to our code can remove.
* ``cold_start.init_per_function`` / ``init_max_ratio``: ``init`` alone.
* ``cold_start.first_event_extra_per_function``: ``first - warm`` (what the first event still loads).
* ``cold_start.warm_event_per_function``: ``warm`` (the event's own work, for context).
* ``cold_start.cpu_per_function``: the headline in CPU time (``time.process_time``) over the
  baseline's: what the process itself computed, which other work on a shared machine barely moves
  (it leaves out the waits for I/O that the wall-clock headline includes).
* ``cold_start.spread_per_function``: the headline's distribution: each run's ``init + first - warm``
  over the baseline's median, as mean, median, min and max (``repeats`` runs).
* ``cold_start.where.<function>``: where the function's init goes, from one ``-X importtime`` run:
  each group of packages' import time, and ``function_init`` (the entry's own code: settings,
  clients, secrets), as shares of the measured init in baseline units (they add up to
  ``init_per_function``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from novita_local.engine.lambda_patch import InProcessFunction
from novita_local.engine.wiring import AwsPlace, TemplateWiring
from novita_local.serve import proxy_event
from novita_local.simulator import Simulator
from novita_local.template import TEMPLATE_PATH, load_template
from novita_orchestrator.store.lease_store import DynamoLeaseStore, Lease
from novita_orchestrator.store.operations_store import DynamoOperationsStore
from novita_orchestrator.times import iso
from tests.support.aws_stub import AwsStub
from tests.support.dynamodb_local import LOCAL_CREDENTIALS, DynamoDBLocal, started
from tests.support.receiver import Receiver

REPEATS = 9
ROOT = Path(TEMPLATE_PATH).resolve().parent
LAYER = ROOT / "layers" / "shared"
BASELINE = "import boto3\nboto3.client('dynamodb')\n"
#: What the chosen libraries alone cost a function, none of our code: the floor under its figure
#: (the GC paused, as every entry does). ``step``: a workflow step's imports (botocore, a first
#: pydantic model, Powertools' logger and metrics, tenacity, requests) and the clients its first event
#: needs (DynamoDB; Secrets Manager for the Novita key). ``api``: what the REST API must import (the
#: same, plus boto3, which Powertools' idempotency persistence imports, the event handler with
#: validation and the idempotency utility) and one DynamoDB client: the least any first request needs.
_FLOOR_IMPORTS = """\
import gc
gc.disable()
import botocore.session
from pydantic import BaseModel
class Model(BaseModel):
    value: int
Model(value=1)
from aws_lambda_powertools import Logger, Metrics
Logger(); Metrics(namespace="bench")
import requests, tenacity
"""
FLOORS = {
    "step": _FLOOR_IMPORTS
    + """\
session = botocore.session.get_session()
session.create_client("dynamodb")
session.create_client("secretsmanager")
""",
    "api": _FLOOR_IMPORTS
    + """\
import boto3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function
APIGatewayRestResolver(enable_validation=True)
botocore.session.get_session().create_client("dynamodb")
""",
}
NOVITA_KEY = "bench-novita-key"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
#: Where init time goes: import time by top-level package, in these groups.
PACKAGE_GROUPS = {
    "boto3": {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"},
    "pydantic": {"pydantic", "pydantic_core", "typing_extensions", "annotated_types", "typing_inspection"},
    "powertools": {"aws_lambda_powertools"},
    "requests": {"requests", "charset_normalizer", "idna", "certifi"},
    "tenacity": {"tenacity"},
    "standardwebhooks": {"standardwebhooks", "attrs", "attr", "dateutil"},
    "service": {"novita_orchestrator"},
    "function_init": {"app"},  # the entry's own code: settings loaded, clients built, secrets read
}

_PROGRAM = """\
import json, sys, time
sys.path[:0] = {paths}
__started, __started_cpu = time.perf_counter(), time.process_time()
{body}
"""
_FUNCTION_BODY = """\
import app
__init, __init_cpu = time.perf_counter(), time.process_time()


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 256
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 60_000


def check(answer):
    if isinstance(answer, dict) and answer.get("statusCode", 200) >= 400:
        raise SystemExit(f"the event failed: {answer}")
    if isinstance(answer, dict) and answer.get("batchItemFailures"):
        raise SystemExit(f"the batch failed: {answer}")


first, second = json.load(open(sys.argv[1]))
check(app.handler(first, Context()))
__first, __first_cpu = time.perf_counter(), time.process_time()
check(app.handler(second, Context()))
__warm, __warm_cpu = time.perf_counter(), time.process_time()
print("COLD_START", json.dumps(
    {
        "init": __init - __started, "first": __first - __init, "warm": __warm - __first,
        "cpu_init": __init_cpu - __started_cpu, "cpu_first": __first_cpu - __init_cpu,
        "cpu_warm": __warm_cpu - __first_cpu,
    }
))
"""


def _program(paths: list[Path], body: str) -> str:
    return _PROGRAM.format(paths=json.dumps([str(p) for p in paths]), body=body)


def _run(program: str, environment: dict[str, str], *args: str, flags: tuple[str, ...] = ()) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment}
    done = subprocess.run(
        [sys.executable, *flags, "-c", program, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start program failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return done.stdout if not flags else done.stderr


def _timings(output: str) -> dict[str, float]:
    for line in output.splitlines():
        if line.startswith("COLD_START "):
            timings: dict[str, float] = json.loads(line.split(" ", 1)[1])
            return timings
    raise RuntimeError(f"no timings in: {output[-2000:]}")


# --- the local world the functions run against --------------------------------------------------


@contextlib.contextmanager
def _world() -> Iterator[dict[str, Any]]:
    """DynamoDB Local with the template's tables, the simulator, a receiver and the AWS stand-in."""
    wiring = TemplateWiring(load_template(TEMPLATE_PATH), ROOT)
    secrets = {
        wiring.arn("NovitaApiKeySecret"): NOVITA_KEY,
        wiring.arn("WebhookSigningSecret"): WEBHOOK_SECRET,
    }
    db: DynamoDBLocal = started()
    try:
        tables = {
            logical_id: db.create_table_from_template(logical_id)
            for logical_id in (
                "OperationsTable",
                "ResilienceTable",
                "IdempotencyTable",
                "StatusSnapshotTable",
            )
        }
        with Simulator(api_key=NOVITA_KEY) as simulator, Receiver() as receiver, AwsStub(secrets) as aws:
            yield {
                "wiring": wiring,
                "db": db,
                "tables": tables,
                "simulator": simulator,
                "receiver": receiver,
                "aws": aws,
            }
    finally:
        db.stop()


def _environments(world: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each function's environment as Lambda would set it from the template, on the local world."""
    wiring: TemplateWiring = world["wiring"]
    tables = world["tables"]
    local = {
        "OPERATIONS_TABLE_NAME": tables["OperationsTable"],
        "RESILIENCE_TABLE_NAME": tables["ResilienceTable"],
        "IDEMPOTENCY_TABLE_NAME": tables["IdempotencyTable"],
        "STATUS_SNAPSHOT_TABLE_NAME": tables["StatusSnapshotTable"],
        "DYNAMODB_ENDPOINT_URL": world["db"].endpoint_url,
        "NOVITA_BASE_URL": world["simulator"].base_url,
        "ALLOW_PRIVATE_NETWORK_TARGETS": "true",  # the simulator's apps and the receiver are on loopback
        "AWS_ENDPOINT_URL_SFN": world["aws"].url,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": world["aws"].url,
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        # The shared limiter runs as deployed (its DynamoDB reads and writes) but never makes a run wait:
        # the bench's runs follow each other faster than 5 requests a second, and a wait for a slot
        # would be counted as cold start.
        "NOVITA_RATE_LIMIT_PER_SECOND": "1000",
        "NOVITA_RATE_BURST": "10000",
        # Set by the Lambda runtime in every function's process (its API's host:port).
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    }
    environments: dict[str, dict[str, str]] = {}
    for logical_id in wiring.function_ids():
        spec = wiring.function_spec(logical_id)
        function = InProcessFunction(spec, AwsPlace(), local)
        environments[spec.code_dir.name] = {
            key: value for key, value in function.environment().items() if key not in {"NOVITA_API_KEY"}
        }
    return environments


def _target(instance: str, name: str, *, kind: str = "start", auth: str | None = None) -> dict[str, Any]:
    now = time.time()
    return {
        "kind": kind,
        "instanceId": None if kind == "create" else instance,
        "instanceName": name,
        "productId": "prod-rtx4090-24g",
        "status": "running",
        "alreadyRunning": False,
        "lockKey": instance,
        "deadline": now + 1800,
        "startedAt": now,
        "templateImageAuthId": auth,
    }


def _events(function: str, world: dict[str, Any]) -> list[Any]:
    """Two fresh events of the kind the function gets first (operations recorded where they must be)."""
    operations = DynamoOperationsStore(world["db"].client(), world["tables"]["OperationsTable"])
    leases = DynamoLeaseStore(world["db"].client(), world["tables"]["OperationsTable"])

    def operation() -> str:
        operation_id = f"op-{uuid.uuid4().hex}"
        operations.create(
            operation_id=operation_id, kind="start", target="inference", phase="resolving", now=time.time()
        )
        return operation_id

    def step(target: dict[str, Any], **sections: Any) -> dict[str, Any]:
        request = {"start": {"ref": "inference"}}
        if target["kind"] == "create":
            request = {
                "create": {"templateId": "tpl-private-app", "productId": "prod-rtx4090-24g", "name": "b"}
            }
        return {"operationId": operation(), "request": request, "target": target, **sections}

    def stop(target: dict[str, Any], **sections: Any) -> dict[str, Any]:
        request = {"stop": {"ref": target["instanceId"]}}
        return {"operationId": operation(), "request": request, "target": target, **sections}

    def one() -> Any:
        inference = _target("inst-inference", "inference")
        if function == "resolve_target":
            name = f"bench-{uuid.uuid4().hex[:8]}"
            create = {"templateId": "tpl-public-nginx", "productId": "prod-rtx4090-24g", "name": name}
            return {"operationId": f"op-{uuid.uuid4().hex}", "request": {"create": create}}
        if function == "resolve_registry_auth":
            return step(_target("name:b", "b", kind="create", auth="auth-team-registry"))
        if function == "launch_instance":
            return step(inference)  # a start of a running instance: Novita says conflict, a GET says running
        if function == "poll_status":
            return step(
                inference, poll={"outcome": "waiting", "delaySeconds": 0, "polls": 0, "notification": None}
            )
        if function == "check_health":
            return step(inference)
        if function == "stop_instance":
            # A stop of a running instance (one of its own each time: the stop sends one POST).
            name = f"bench-{uuid.uuid4().hex[:8]}"
            (instance,) = world["simulator"].admin.add_instances(
                [{"name": name, "status": "running", "productId": "prod-rtx4090-24g", "ports": "8000/http"}]
            )
            return stop(_target(instance, name, kind="stop"))
        if function == "poll_stopped":
            # A poll of a stop that has taken effect (the instance is exited: the stop is done).
            sent = time.time()
            action = {"instanceId": "inst-dev-box", "sent": True, "notification": None, "actedAt": sent}
            poll = {"outcome": "waiting", "delaySeconds": 0, "polls": 0}
            return stop(_target("inst-dev-box", "dev-box", kind="stop"), action=action, poll=poll)
        if function == "watch_lease":
            # A wake-up of the watcher of a lease that has not run out (the common one: wait again).
            operation_id, instance = f"op-{uuid.uuid4().hex}", f"inst-{uuid.uuid4().hex[:8]}"
            leases.put(
                Lease(
                    instance_id=instance,
                    version=1,
                    revision=1,
                    operation_id=operation_id,
                    state="active",
                    stop_at=time.time() + 3600,
                    idle_seconds=None,
                    warn_seconds=600,
                    last_heartbeat_at=time.time(),
                ),
                replacing=None,
            )
            return {
                "lease": {"instanceId": instance, "version": 1, "operationId": operation_id},
                "watch": {"action": "wait", "waitSeconds": 0, "wakeups": 0, "generation": 0},
            }
        if function == "finish_operation":
            return {**step(inference), "outcome": "ready"}
        if function == "api":
            return proxy_event(
                method="GET",
                target=f"/operations/{operation()}",
                headers={"Host": "api.local"},
                body=b"",
                source_ip="127.0.0.1",
                host="api.local",
                api_key=None,
            )
        if function == "start_trigger":
            return {"id": str(uuid.uuid4()), "detail": {"start": {"ref": "inference"}}}
        if function == "webhook_dispatcher":
            event = {
                "id": f"evt_{uuid.uuid4().hex}",
                "type": "instance.startup.progress",
                "timestamp": iso(time.time()),
            }
            body = json.dumps(
                {"webhook": {"url": world["receiver"].url("/hook")}, "event": {**event, "data": {}}}
            )
            record = {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            }
            return {"Records": [record]}
        raise RuntimeError(f"no first event for {function}")

    return [one(), one()]


# --- measuring ---------------------------------------------------------------------------------


def _where(program: str, environment: dict[str, str], events: str, init: float) -> dict[str, float]:
    """One ``-X importtime`` run of the function: each group's share of ``init`` (baseline units)."""
    report = _run(program, environment, events, flags=("-X", "importtime"))
    by_group = dict.fromkeys([*PACKAGE_GROUPS, "other"], 0.0)
    for line in report.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        fields = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if not fields[0].isdigit():
            continue  # the header line
        top = fields[2].split(".")[0]
        group = next((name for name, packages in PACKAGE_GROUPS.items() if top in packages), "other")
        by_group[group] += int(fields[0])
    total = sum(by_group.values()) or 1
    # importtime slows every import down alike: its shares, scaled to the init measured without it.
    return {group: round(init * spent / total, 3) for group, spent in by_group.items()}


def _spread(ratios: list[float]) -> dict[str, float]:
    """Mean, median and range of one function's runs, each as a ratio to the baseline's median."""
    return {
        "mean": round(statistics.fmean(ratios), 3),
        "median": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
    }


def measure(repeats: int = REPEATS) -> dict[str, Any]:
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    with _world() as world, tempfile.TemporaryDirectory() as scratch:
        environments = _environments(world)
        missing = [name for name in functions if name not in environments]
        if missing:
            raise RuntimeError(f"no template function for: {', '.join(missing)}")
        programs = {name: _program([ROOT / "functions" / name, LAYER], _FUNCTION_BODY) for name in functions}
        baseline_env = {"AWS_REGION": AwsPlace().region, "AWS_DEFAULT_REGION": AwsPlace().region}
        baseline_program = _program(
            [LAYER],
            BASELINE
            + "print('COLD_START', json.dumps({'init': time.perf_counter() - __started,"
            + " 'cpu_init': time.process_time() - __started_cpu}))\n",
        )

        def events_file(name: str) -> str:
            path = Path(scratch) / f"{name}-{uuid.uuid4().hex}.json"
            path.write_text(json.dumps(_events(name, world)))
            return str(path)

        # One unmeasured run each first: every module compiled once (its .pyc written), as a deployed
        # package ships them; otherwise an edited module would be compiled again at every measured start.
        floor_programs = {
            kind: _program(
                [LAYER],
                body
                + "print('COLD_START', json.dumps({'init': time.perf_counter() - __started,"
                + " 'cpu_init': time.process_time() - __started_cpu}))\n",
            )
            for kind, body in FLOORS.items()
        }
        _run(baseline_program, baseline_env)
        for program in floor_programs.values():
            _run(program, baseline_env)
        for name in functions:
            _run(programs[name], environments[name], events_file(name))
        baseline: list[dict[str, float]] = []
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in functions}
        floors: dict[str, list[float]] = {kind: [] for kind in FLOORS}
        for _ in range(repeats):
            baseline.append(_timings(_run(baseline_program, baseline_env)))
            for kind, program in floor_programs.items():
                floors[kind].append(_timings(_run(program, baseline_env))["init"])
            for name in functions:
                samples[name].append(_timings(_run(programs[name], environments[name], events_file(name))))
        base = statistics.median(b["init"] for b in baseline)
        base_cpu = statistics.median(b["cpu_init"] for b in baseline)

        def ratio(name: str, figure: Callable[[dict[str, float]], float], over: float = base) -> float:
            return round(statistics.median(figure(s) for s in samples[name]) / over, 3)

        def cold_start(sample: dict[str, float]) -> float:
            return sample["init"] + sample["first"] - sample["warm"]

        def cold_start_cpu(sample: dict[str, float]) -> float:
            return sample["cpu_init"] + sample["cpu_first"] - sample["cpu_warm"]

        cold = {name: ratio(name, cold_start) for name in functions}
        # Each run over the baseline's median: the function's own run-to-run spread (a single baseline
        # run, a fifth of a second, moves too much with the machine's load to pair each run with).
        runs = {name: [cold_start(run) / base for run in samples[name]] for name in functions}
        init = {name: ratio(name, lambda s: s["init"]) for name in functions}
        where = {
            name: _where(programs[name], environments[name], events_file(name), init[name])
            for name in functions
        }
    return {
        "baseline_s": round(base, 4),
        "per_function": cold,
        "max_ratio": max(cold.values()),
        "library_floor": {kind: round(statistics.median(runs) / base, 3) for kind, runs in floors.items()},
        "init_per_function": init,
        "init_max_ratio": max(init.values()),
        "first_event_extra_per_function": {
            name: ratio(name, lambda s: s["first"] - s["warm"]) for name in functions
        },
        "warm_event_per_function": {name: ratio(name, lambda s: s["warm"]) for name in functions},
        "spread_per_function": {name: _spread(ratios) for name, ratios in runs.items()},
        "cpu_per_function": {name: ratio(name, cold_start_cpu, base_cpu) for name in functions},
        "repeats": repeats,
        "where": where,
    }


def run() -> dict[str, object]:
    return {"cold_start": measure()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
