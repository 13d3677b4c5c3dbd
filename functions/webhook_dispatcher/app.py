"""Webhook dispatcher: SQS batch of notifications -> signed POSTs, partial batch failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import get_settings
from novita_orchestrator.webhooks.dispatcher import WebhookDispatcher, build_dispatcher

_dispatcher: WebhookDispatcher | None = None  # built at cold start: one pooled session per container


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = build_dispatcher(get_settings())
    return dict(_dispatcher.process(event, context))
