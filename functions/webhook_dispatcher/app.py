"""Webhook dispatcher: SQS batch of notifications -> signed POSTs, partial batch failures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import get_settings

if TYPE_CHECKING:  # typing only: importing it loads the whole Powertools package
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from novita_orchestrator.webhooks.dispatcher import WebhookDispatcher

_dispatcher: WebhookDispatcher | None = None  # built at cold start: one pooled session per container


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _dispatcher
    if _dispatcher is None:
        # Imported here: the batch utilities and requests load with the first batch, not at init.
        from novita_orchestrator.webhooks.dispatcher import build_dispatcher

        _dispatcher = build_dispatcher(get_settings())
    return dict(_dispatcher.process(event, context))
