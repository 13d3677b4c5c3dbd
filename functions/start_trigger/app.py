"""Lambda entry of the EventBridge trigger: StartInstanceRequested / schedule event -> one execution."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import novita_orchestrator.cold_start  # noqa: F401  # first of the layer: the GC pauses for the init
from novita_orchestrator.api.trigger import start_from_event
from novita_orchestrator.deps import Once
from novita_orchestrator.deps.trigger import start_trigger_deps
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import StartTriggerSettings

# At init: the settings validated and the Step Functions client built, once per container.
deps = Once(lambda: start_trigger_deps(StartTriggerSettings.load())).build_now()


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return start_from_event(event, deps()).model_dump(by_alias=True)
