"""Lambda entry of the REST API: Powertools context, then the layer answers the proxy event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from novita_orchestrator.api.handler import handle_api_event
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import get_settings

if TYPE_CHECKING:  # typing only: importing it loads the whole Powertools package
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_api_event(event, context, get_settings())
