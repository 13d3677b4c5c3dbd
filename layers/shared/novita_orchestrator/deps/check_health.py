"""The collaborators of CheckHealth: the Novita client, the operations table and the probes (HTTP and TCP)."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of, operations_store
from novita_orchestrator.deps.novita import guarded_novita_client
from novita_orchestrator.outbound import system_resolver
from novita_orchestrator.settings import CheckHealthSettings
from novita_orchestrator.steps.check_health import (
    CheckHealthDeps,
    http_get_status,
    probe_session,
    tcp_connect,
)


def check_health_deps(settings: CheckHealthSettings) -> CheckHealthDeps:
    aws, clock = Aws(), clock_of(settings)
    return CheckHealthDeps(
        novita=guarded_novita_client(settings, aws, clock),
        operations=operations_store(settings, aws),
        clock=clock,
        http_get=http_get_status(probe_session()),
        connect=tcp_connect,
        resolve=system_resolver,
        probe_timeout_seconds=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
        interval_seconds=settings.HEALTH_CHECK_INTERVAL_SECONDS,
        allow_private_targets=settings.ALLOW_PRIVATE_NETWORK_TARGETS,
    )
