"""Lambda entry of FinishOperation: record the outcome, release the lock, build the terminal notification."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import novita_orchestrator.cold_start  # noqa: F401  # first of the layer: the GC pauses for the init
from novita_orchestrator.deps import Once
from novita_orchestrator.deps.finish import finish_operation_deps
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import FinishOperationSettings
from novita_orchestrator.steps.finish_operation import finish_operation
from novita_orchestrator.workflow.state import FinishState

# At init: the settings validated and the clients built, once per container.
deps = Once(lambda: finish_operation_deps(FinishOperationSettings.load())).build_now()


@logger.inject_lambda_context(correlation_id_path="operationId")
@metrics.log_metrics
@bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return finish_operation(FinishState.parse(event), deps()).to_state()
