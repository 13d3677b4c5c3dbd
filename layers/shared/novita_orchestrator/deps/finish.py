"""The collaborators of FinishOperation: the operations table only (it never calls Novita, so this
module imports nothing of the Novita client)."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of, lock_store, operations_store
from novita_orchestrator.settings import FinishOperationSettings
from novita_orchestrator.steps.finish_operation import FinishOperationDeps


def finish_operation_deps(settings: FinishOperationSettings) -> FinishOperationDeps:
    aws, clock = Aws(), clock_of(settings)
    return FinishOperationDeps(
        operations=operations_store(settings, aws), locks=lock_store(settings, aws), clock=clock
    )
