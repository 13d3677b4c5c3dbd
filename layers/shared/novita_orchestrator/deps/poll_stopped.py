"""The collaborators of PollStopped (the stop workflow): the Novita client and the operations table."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of, operations_store
from novita_orchestrator.deps.novita import guarded_novita_client
from novita_orchestrator.settings import PollStoppedSettings
from novita_orchestrator.steps.poll_stopped import PollStoppedDeps
from novita_orchestrator.workflow.polling import PollBounds


def poll_stopped_deps(settings: PollStoppedSettings) -> PollStoppedDeps:
    aws, clock = Aws(), clock_of(settings)
    return PollStoppedDeps(
        novita=guarded_novita_client(settings, aws, clock),
        operations=operations_store(settings, aws),
        clock=clock,
        bounds=PollBounds(settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS),
    )
