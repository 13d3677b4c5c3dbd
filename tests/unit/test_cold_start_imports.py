"""What each function's init imports, in a fresh interpreter as Lambda's init: the heavy packages a
function does not use stay out (their cost is measured by ``make bench``, docs/BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The workflow steps that call Novita: functions/<step>/app.py builds its collaborators in deps/<step>.py.
NOVITA_STEPS = [
    "resolve_target",
    "resolve_registry_auth",
    "launch_instance",
    "poll_status",
    "check_health",
    "stop_instance",
    "poll_stopped",
]
# Each function's composition root (functions/<name>/app.py imports one of these, and its step).
FUNCTIONS_WITHOUT_BOTO3 = [
    *(f"novita_orchestrator.deps.{step}" for step in NOVITA_STEPS),
    "novita_orchestrator.deps.finish",
    "novita_orchestrator.deps.trigger",
    "novita_orchestrator.deps.webhooks",
]


def _imported(module: str, *names: str) -> list[str]:
    """Which of ``names`` are imported once ``module`` is (a fresh interpreter)."""
    program = f"import sys, {module}\nprint(' '.join(n for n in {list(names)!r} if n in sys.modules))"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.parametrize("module", FUNCTIONS_WITHOUT_BOTO3)
def test_the_functions_use_botocore_without_importing_boto3(module: str) -> None:
    # The API alone imports boto3: Powertools' idempotency persistence layer does.
    assert _imported(module, "botocore.session", "boto3", "s3transfer") == ["botocore.session"]


def test_the_api_leaves_the_openapi_document_models_to_requests_for_docs() -> None:
    models = "aws_lambda_powertools.event_handler.openapi.models"
    assert _imported("novita_orchestrator.api.routes", "pydantic", models) == ["pydantic"]


@pytest.mark.parametrize("step", NOVITA_STEPS)
def test_a_step_imports_no_other_step(step: str) -> None:
    # Every module (and every dataclass and model in it) costs init time: a step loads its own only.
    others = [f"novita_orchestrator.steps.{other}" for other in NOVITA_STEPS if other != step]
    imported = _imported(f"novita_orchestrator.deps.{step}", f"novita_orchestrator.steps.{step}", *others)
    assert imported == [f"novita_orchestrator.steps.{step}"]
