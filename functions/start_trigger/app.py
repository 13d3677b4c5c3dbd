"""Lambda entry of the EventBridge trigger: StartInstanceRequested / schedule event -> one execution."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from novita_orchestrator.api.trigger import start_from_event
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import ConfigurationError, get_settings
from novita_orchestrator.webhooks.url_guard import UrlPolicy

if TYPE_CHECKING:  # typing only: importing it loads the whole Powertools package
    from aws_lambda_powertools.utilities.typing import LambdaContext

_stepfunctions: Any = None


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _stepfunctions
    settings = get_settings()
    if not settings.STATE_MACHINE_ARN:
        raise ConfigurationError("STATE_MACHINE_ARN is not set: the startup workflow is required")
    if _stepfunctions is None:
        import boto3  # at the first event, not at init: importing boto3 is most of a cold start

        _stepfunctions = boto3.client("stepfunctions")
    result = start_from_event(
        event,
        stepfunctions=_stepfunctions,
        state_machine_arn=settings.STATE_MACHINE_ARN,
        url_policy=UrlPolicy.from_settings(settings),
    )
    return result.to_json()
