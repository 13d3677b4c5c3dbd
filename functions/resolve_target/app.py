"""Lambda entry of the resolve target step: Powertools context, then the layer does the work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import get_settings
from novita_orchestrator.workflow.handlers import handle_resolve_target
from novita_orchestrator.workflow.wiring import build_dependencies

if TYPE_CHECKING:  # typing only: importing it loads the whole Powertools package
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(correlation_id_path="operationId")
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_resolve_target(event, build_dependencies(get_settings()))
