"""The collaborators of LaunchInstance: the Novita client, the operations table and the stored
env values of a create."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of, env_values_store, operations_store
from novita_orchestrator.deps.novita import guarded_novita_client
from novita_orchestrator.settings import LaunchInstanceSettings
from novita_orchestrator.steps.launch_instance import LaunchInstanceDeps


def launch_instance_deps(settings: LaunchInstanceSettings) -> LaunchInstanceDeps:
    aws, clock = Aws(), clock_of(settings)
    return LaunchInstanceDeps(
        novita=guarded_novita_client(settings, aws, clock),
        operations=operations_store(settings, aws),
        clock=clock,
        env_values=env_values_store(settings, aws),
    )
