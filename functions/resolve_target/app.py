"""Lambda entry of ResolveTarget: record the operation, find the instance (or template), take its lock."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import novita_orchestrator.cold_start  # noqa: F401  # first of the layer: the GC pauses for the init
from novita_orchestrator.deps import Once
from novita_orchestrator.deps.resolve_target import resolve_target_deps
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import ResolveTargetSettings
from novita_orchestrator.steps.resolve_target import resolve_target
from novita_orchestrator.workflow.state import OperationState

# At init: the settings validated and the clients built, once per container.
deps = Once(lambda: resolve_target_deps(ResolveTargetSettings.load())).build_now()


@logger.inject_lambda_context(correlation_id_path="operationId")
@metrics.log_metrics
@bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_target(OperationState.parse(event), deps()).to_state()
