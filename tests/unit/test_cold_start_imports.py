"""What each function's init imports, in a fresh interpreter as Lambda's init: the heavy packages a
function does not use stay out (their cost is measured by ``make bench``, docs/BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Each function's composition root (functions/<name>/app.py imports one of these, and its step).
FUNCTIONS_WITHOUT_BOTO3 = [
    "novita_orchestrator.deps.workflow",
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
