"""The collaborators of each step of the startup workflow that calls Novita (one builder per Lambda)."""

from __future__ import annotations

from novita_orchestrator.clock import Clock
from novita_orchestrator.deps import (
    Aws,
    clock_of,
    env_values_store,
    lease_store,
    lock_store,
    operations_store,
)
from novita_orchestrator.deps.novita import call_guard, novita_client
from novita_orchestrator.deps.status import status_reader
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.outbound import system_resolver
from novita_orchestrator.settings import (
    CheckHealthSettings,
    LaunchInstanceSettings,
    NovitaSettings,
    PollStatusSettings,
    PollStoppedSettings,
    ResolveRegistryAuthSettings,
    ResolveTargetSettings,
    StopInstanceSettings,
)
from novita_orchestrator.steps.check_health import (
    CheckHealthDeps,
    http_get_status,
    probe_session,
    tcp_connect,
)
from novita_orchestrator.steps.launch_instance import LaunchInstanceDeps
from novita_orchestrator.steps.poll_status import PollStatusDeps
from novita_orchestrator.steps.poll_stopped import PollStoppedDeps
from novita_orchestrator.steps.resolve_registry_auth import ResolveRegistryAuthDeps
from novita_orchestrator.steps.resolve_target import ResolveTargetDeps
from novita_orchestrator.steps.stop_instance import StopInstanceDeps
from novita_orchestrator.store.startup_stats_store import DynamoStartupStatsStore
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from novita_orchestrator.workflow.polling import PollBounds


def _novita(settings: NovitaSettings, aws: Aws, clock: Clock) -> NovitaClient:
    return novita_client(settings, aws, clock, call_guard(settings, aws, clock))


def resolve_target_deps(settings: ResolveTargetSettings) -> ResolveTargetDeps:
    aws, clock = Aws(), clock_of(settings)
    novita = _novita(settings, aws, clock)
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


def resolve_registry_auth_deps(settings: ResolveRegistryAuthSettings) -> ResolveRegistryAuthDeps:
    return ResolveRegistryAuthDeps(novita=_novita(settings, Aws(), clock_of(settings)))


def launch_instance_deps(settings: LaunchInstanceSettings) -> LaunchInstanceDeps:
    aws, clock = Aws(), clock_of(settings)
    return LaunchInstanceDeps(
        novita=_novita(settings, aws, clock),
        operations=operations_store(settings, aws),
        clock=clock,
        env_values=env_values_store(settings, aws),
    )


def poll_status_deps(settings: PollStatusSettings) -> PollStatusDeps:
    aws, clock = Aws(), clock_of(settings)
    novita = _novita(settings, aws, clock)
    return PollStatusDeps(
        reader=status_reader(settings, novita, aws, clock, page_size=settings.NOVITA_PAGE_SIZE),
        operations=operations_store(settings, aws),
        stats=DynamoStartupStatsStore(
            aws.dynamodb(settings.DYNAMODB_ENDPOINT_URL), settings.OPERATIONS_TABLE_NAME
        ),
        clock=clock,
        bounds=PollBounds(settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS),
        history_size=settings.STARTUP_HISTORY_SIZE,
        schedule=settings.POLL_SCHEDULE,
    )


def check_health_deps(settings: CheckHealthSettings) -> CheckHealthDeps:
    aws, clock = Aws(), clock_of(settings)
    return CheckHealthDeps(
        novita=_novita(settings, aws, clock),
        operations=operations_store(settings, aws),
        clock=clock,
        http_get=http_get_status(probe_session()),
        connect=tcp_connect,
        resolve=system_resolver,
        probe_timeout_seconds=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
        interval_seconds=settings.HEALTH_CHECK_INTERVAL_SECONDS,
        allow_private_targets=settings.ALLOW_PRIVATE_NETWORK_TARGETS,
    )


def stop_instance_deps(settings: StopInstanceSettings) -> StopInstanceDeps:
    aws, clock = Aws(), clock_of(settings)
    return StopInstanceDeps(
        novita=_novita(settings, aws, clock), operations=operations_store(settings, aws), clock=clock
    )


def poll_stopped_deps(settings: PollStoppedSettings) -> PollStoppedDeps:
    aws, clock = Aws(), clock_of(settings)
    return PollStoppedDeps(
        novita=_novita(settings, aws, clock),
        operations=operations_store(settings, aws),
        clock=clock,
        bounds=PollBounds(settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS),
    )
