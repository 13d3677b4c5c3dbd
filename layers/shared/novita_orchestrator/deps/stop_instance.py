"""The collaborators of StopInstance (the stop workflow): the Novita client and the operations table."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of, operations_store
from novita_orchestrator.deps.novita import guarded_novita_client
from novita_orchestrator.settings import StopInstanceSettings
from novita_orchestrator.steps.stop_instance import StopInstanceDeps


def stop_instance_deps(settings: StopInstanceSettings) -> StopInstanceDeps:
    aws, clock = Aws(), clock_of(settings)
    return StopInstanceDeps(
        novita=guarded_novita_client(settings, aws, clock),
        operations=operations_store(settings, aws),
        clock=clock,
    )
