"""Lambda entry of WatchLease: read the auto-stop lease again; wait, warn, stop or end."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import novita_orchestrator.cold_start  # noqa: F401  # first of the layer: the GC pauses for the init
from novita_orchestrator.deps import Once
from novita_orchestrator.deps.finish import watch_lease_deps
from novita_orchestrator.invocation import bounded_by_invocation
from novita_orchestrator.observability import logger, metrics
from novita_orchestrator.settings import WatchLeaseSettings
from novita_orchestrator.steps.watch_lease import watch_lease
from novita_orchestrator.workflow.state import WatchState

# At init: the settings validated and the clients built, once per container.
deps = Once(lambda: watch_lease_deps(WatchLeaseSettings.load())).build_now()


@logger.inject_lambda_context
@metrics.log_metrics
@bounded_by_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return watch_lease(WatchState.parse(event), deps()).to_state()
