"""Lambda entry of the webhook dispatcher: SQS batch of notifications -> signed POSTs, partial failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import novita_orchestrator.cold_start  # noqa: F401  # first of the layer: the GC pauses for the init
from novita_orchestrator.deps import Once
from novita_orchestrator.deps.webhooks import webhook_dispatcher
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import WebhookDispatcherSettings

# At init: one pooled session, the SQS client and the signing secrets, once per container.
dispatcher = Once(lambda: webhook_dispatcher(WebhookDispatcherSettings.load())).build_now()


@logger.inject_lambda_context
@metrics.log_metrics
@bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(dispatcher().process(event, context))
