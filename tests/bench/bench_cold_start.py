"""Cold start of every function, as a ratio to ``import boto3`` plus one client, in one run.

For each ``functions/<name>/app.py``, a fresh interpreter (as Lambda's init) with the function's
directory and the layer on ``sys.path`` and the function's environment from ``template.yaml``
(secrets given as local values, so nothing reaches the network) times, from its first statement:

* ``init``: importing the handler module, then what its handler builds before its first event's
  work: the settings and its dependency builder (``INIT`` below), whose clients are made lazily;
* ``with_clients``: the same, then the clients its first event needs (``CLIENTS``: the DynamoDB
  client, the Novita client and its guard, the dispatcher's SQS client and HTTP session, ...).

The baseline, timed the same way in the same run, is ``import boto3`` plus one DynamoDB client.
Each program runs ``REPEATS`` times, interleaved (baseline, every function, baseline, ...) so
that machine load affects them alike; the figures are medians.

* ``cold_start.per_function`` / ``cold_start.max_ratio``: ``init`` / baseline (target: <= 1.25).
* ``cold_start.with_clients_per_function`` / ``with_clients_max_ratio``: ``with_clients`` / baseline
  (what the first invocation pays in all, for context).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from novita_local.engine.lambda_patch import InProcessFunction
from novita_local.engine.wiring import AwsPlace, TemplateWiring
from novita_local.template import TEMPLATE_PATH, load_template

REPEATS = 7
STAGES = ("init", "with_clients")
ROOT = Path(TEMPLATE_PATH).resolve().parent
LAYER = ROOT / "layers" / "shared"

_SETTINGS = "from novita_orchestrator.settings import get_settings\nsettings = get_settings()\n"
_STEP = (
    _SETTINGS + "from novita_orchestrator.workflow.wiring import build_dependencies\n"
    "deps = build_dependencies(settings)\n"
)


def _touch(*collaborators: str) -> str:
    return "".join(f"deps.{name}\n" for name in collaborators)


#: What each function does before its first event (its init): the handler module's import, then
#: what its handler builds up front: settings and its dependency builder (clients are made lazily).
INIT: dict[str, str] = {
    "resolve_target": _STEP,
    "resolve_registry_auth": _STEP,
    "launch_instance": _STEP,
    "poll_status": _STEP,
    "check_health": _STEP,
    "finish_operation": _STEP,
    "webhook_dispatcher": _SETTINGS,
    "api": _SETTINGS
    + "from novita_orchestrator.api.wiring import build_api\nruntime = build_api(settings)\n",
    "start_trigger": _SETTINGS,
}

#: Then the clients its first event needs (boto3 clients, the Novita client, sessions).
CLIENTS: dict[str, str] = {
    "resolve_target": _touch("novita", "operations", "locks"),
    "resolve_registry_auth": _touch("novita"),
    "launch_instance": _touch("novita", "operations"),
    "poll_status": _touch("novita", "operations", "stats"),
    "check_health": _touch("novita", "operations", "http_get"),
    "finish_operation": _touch("operations", "locks"),
    "webhook_dispatcher": "from novita_orchestrator.webhooks.dispatcher import build_dispatcher\n"
    "build_dispatcher(settings)\n",
    "api": "runtime.app\nruntime.service\n",
    "start_trigger": "import boto3\nboto3.client('stepfunctions')\n"
    "from novita_orchestrator.webhooks.url_guard import UrlPolicy\nUrlPolicy.from_settings(settings)\n",
}

BASELINE = "import boto3\nboto3.client('dynamodb')\n"

#: Local values for what the deployed functions read from Secrets Manager (no network here).
LOCAL_SECRETS = {
    "NOVITA_API_KEY": "bench-novita-key",
    "NOVITA_API_KEY_SECRET_ARN": "",
    "WEBHOOK_SIGNING_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "WEBHOOK_SECRET_ARN": "",
}


def _timed_program(setup_paths: list[Path], body: str) -> str:
    """A program that times ``body`` from its first statement and prints the seconds as JSON."""
    paths = json.dumps([str(p) for p in setup_paths])
    return (
        "import sys, time\n"
        f"sys.path[:0] = {paths}\n"
        "__started = time.perf_counter()\n"
        f"{body}"
        "print('COLD_START', time.perf_counter() - __started)\n"
    )


def _function_environments() -> dict[str, dict[str, str]]:
    """Each function's environment as Lambda would set it from the template (physical names resolved)."""
    wiring = TemplateWiring(load_template(TEMPLATE_PATH), ROOT)
    place = AwsPlace()
    environments: dict[str, dict[str, str]] = {}
    for logical_id in wiring.function_ids():
        spec = wiring.function_spec(logical_id)
        function = InProcessFunction(spec, place, LOCAL_SECRETS)
        environments[spec.code_dir.name] = function.environment()
    return environments


def _run_once(program: str, environment: dict[str, str]) -> float:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("COLD_START "):
            return float(line.split()[1])
    raise RuntimeError(f"cold start program failed: {done.stderr[-2000:]}")


def measure(repeats: int = REPEATS) -> dict[str, Any]:
    environments = _function_environments()
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    missing = [name for name in functions if name not in INIT or name not in environments]
    if missing:
        raise RuntimeError(f"no cold-start recipe or template function for: {', '.join(missing)}")
    programs = {
        (name, stage): _timed_program(
            [ROOT / "functions" / name, LAYER],
            "import app\n" + INIT[name] + (CLIENTS[name] if stage == "with_clients" else ""),
        )
        for name in functions
        for stage in STAGES
    }
    baseline_env = {"AWS_REGION": AwsPlace().region, "AWS_DEFAULT_REGION": AwsPlace().region}
    baseline_program = _timed_program([LAYER], BASELINE)
    # One unmeasured run each first: every module compiled once (its .pyc written), as a deployed
    # package ships them; otherwise an edited module would be compiled again at every measured start.
    _run_once(baseline_program, baseline_env)
    for (name, _stage), program in programs.items():
        _run_once(program, environments[name])
    baseline: list[float] = []
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in programs}
    for _ in range(repeats):
        baseline.append(_run_once(baseline_program, baseline_env))
        for (name, stage), program in programs.items():
            samples[(name, stage)].append(_run_once(program, environments[name]))
    base = statistics.median(baseline)

    def ratios(stage: str) -> dict[str, float]:
        return {name: round(statistics.median(samples[(name, stage)]) / base, 3) for name in functions}

    init, with_clients = ratios("init"), ratios("with_clients")
    return {
        "baseline_s": round(base, 4),
        "per_function": init,
        "max_ratio": max(init.values()),
        "with_clients_per_function": with_clients,
        "with_clients_max_ratio": max(with_clients.values()),
    }


def run() -> dict[str, object]:
    return {"cold_start": measure()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
