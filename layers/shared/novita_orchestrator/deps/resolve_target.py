"""The collaborators of ResolveTarget: the Novita client, the status reader and the operations
table (records, locks, leases)."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of, lease_store, lock_store, operations_store
from novita_orchestrator.deps.novita import guarded_novita_client
from novita_orchestrator.deps.status import status_reader
from novita_orchestrator.settings import ResolveTargetSettings
from novita_orchestrator.steps.resolve_target import ResolveTargetDeps
from novita_orchestrator.webhooks.url_guard import UrlPolicy


def resolve_target_deps(settings: ResolveTargetSettings) -> ResolveTargetDeps:
    aws, clock = Aws(), clock_of(settings)
    novita = guarded_novita_client(settings, aws, clock)
    return ResolveTargetDeps(
        novita=novita,
        reader=status_reader(settings, novita, aws, clock, page_size=settings.NOVITA_PAGE_SIZE),
        operations=operations_store(settings, aws),
        locks=lock_store(settings, aws),
        clock=clock,
        url_policy=UrlPolicy.from_settings(settings),
        startup_timeout_seconds=settings.STARTUP_TIMEOUT_SECONDS,
        price_unit_usd=settings.NOVITA_PRICE_UNIT_USD,
        stop_timeout_seconds=settings.STOP_TIMEOUT_SECONDS,
        leases=lease_store(settings, aws),
    )
