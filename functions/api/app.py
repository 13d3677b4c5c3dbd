"""Lambda entry of the REST API: the layer's module-level resolver answers each proxy event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import novita_orchestrator.cold_start  # noqa: F401  # first of the layer: the GC pauses for the init
from novita_orchestrator.api.routes import app, serve_with
from novita_orchestrator.deps import Once
from novita_orchestrator.deps.api import api_service
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import ApiSettings

# At init: the settings validated and the service built. If that fails, every request answers a
# JSON 500 naming the setting (the routes' service dependency raises it), never a bare 502.
serve_with(Once(lambda: api_service(ApiSettings.load())).build_now())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = app.resolve(event, context)
    return response
