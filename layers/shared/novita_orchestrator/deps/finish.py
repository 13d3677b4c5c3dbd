"""The collaborators of FinishOperation and of the lease watcher: the operations table (records,
locks, leases) and Step Functions (the watcher a lease starts; the stop an expired lease starts).
Neither calls Novita, so this module imports nothing of the Novita client."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of, lease_store, lock_store, operations_store
from novita_orchestrator.settings import FinishOperationSettings, WatchLeaseSettings
from novita_orchestrator.steps.finish_operation import FinishOperationDeps
from novita_orchestrator.steps.leases import ExecutionStarter
from novita_orchestrator.steps.watch_lease import WatchLeaseDeps


def finish_operation_deps(settings: FinishOperationSettings) -> FinishOperationDeps:
    aws, clock = Aws(), clock_of(settings)
    return FinishOperationDeps(
        operations=operations_store(settings, aws),
        locks=lock_store(settings, aws),
        clock=clock,
        leases=lease_store(settings, aws),
        watchers=ExecutionStarter(aws.client("stepfunctions")),
        lease_state_machine_arn=settings.LEASE_STATE_MACHINE_ARN,
        warn_seconds=settings.AUTO_STOP_WARNING_SECONDS,
    )


def watch_lease_deps(settings: WatchLeaseSettings) -> WatchLeaseDeps:
    aws = Aws()
    return WatchLeaseDeps(
        leases=lease_store(settings, aws),
        starter=ExecutionStarter(aws.client("stepfunctions")),
        stop_state_machine_arn=settings.STOP_STATE_MACHINE_ARN,
        lease_state_machine_arn=settings.LEASE_STATE_MACHINE_ARN,
        clock=clock_of(settings),
    )
