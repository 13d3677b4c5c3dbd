"""Lambda entry of PollStopped: read the instance until it is exited (stop) or gone (delete)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import novita_orchestrator.cold_start  # noqa: F401  # first of the layer: the GC pauses for the init
from novita_orchestrator.deps import Once
from novita_orchestrator.deps.poll_stopped import poll_stopped_deps
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import PollStoppedSettings
from novita_orchestrator.steps.poll_stopped import poll_stopped
from novita_orchestrator.workflow.state import StopState

# At init: the settings validated and the clients built, once per container.
deps = Once(lambda: poll_stopped_deps(PollStoppedSettings.load())).build_now()


@logger.inject_lambda_context(correlation_id_path="operationId")
@metrics.log_metrics
@bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return poll_stopped(StopState.parse(event), deps()).to_state()
