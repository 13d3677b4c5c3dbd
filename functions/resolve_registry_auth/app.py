"""Lambda entry of ResolveRegistryAuth: the template's registry-auth ID must name a saved credential."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import novita_orchestrator.cold_start  # noqa: F401  # first of the layer: the GC pauses for the init
from novita_orchestrator.deps import Once
from novita_orchestrator.deps.resolve_registry_auth import resolve_registry_auth_deps
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import ResolveRegistryAuthSettings
from novita_orchestrator.steps.resolve_registry_auth import resolve_registry_auth
from novita_orchestrator.workflow.state import StepState

# At init: the settings validated and the clients built, once per container.
deps = Once(lambda: resolve_registry_auth_deps(ResolveRegistryAuthSettings.load())).build_now()


@logger.inject_lambda_context(correlation_id_path="operationId")
@metrics.log_metrics
@bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_registry_auth(StepState.parse(event), deps()).to_state()
