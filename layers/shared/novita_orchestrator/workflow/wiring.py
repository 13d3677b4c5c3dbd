"""Build the workflow's collaborators from settings, once per process (per cold start).

Nothing here touches the network until a collaborator is first used, so importing a handler is cheap
and a handler that never calls Novita never needs the API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from novita_orchestrator.clock import Clock, clock_for_scale
from novita_orchestrator.settings import ConfigurationError, Settings

# The collaborators' modules are imported where each is first built, not here: a function's init
# then loads only what its own step uses (the first event pays for the rest, once).
if TYPE_CHECKING:
    from novita_orchestrator.novita.client import NovitaClient
    from novita_orchestrator.store.lock_store import LockStore
    from novita_orchestrator.store.operations_store import OperationsStore
    from novita_orchestrator.store.startup_stats_store import StartupStatsStore
    from novita_orchestrator.workflow.check_health import HealthSettings
    from novita_orchestrator.workflow.health import HttpGet
    from novita_orchestrator.workflow.poll_status import PollSettings
    from novita_orchestrator.workflow.resolve_target import ResolveLimits
    from novita_orchestrator.workflow.status_reader import StatusReader


def operations_table_name(settings: Settings) -> str:
    if not settings.OPERATIONS_TABLE_NAME:
        raise ConfigurationError("OPERATIONS_TABLE_NAME is not set: the operations table is required")
    return settings.OPERATIONS_TABLE_NAME


def poll_settings(settings: Settings) -> PollSettings:
    from novita_orchestrator.workflow.poll_status import PollSettings
    from novita_orchestrator.workflow.polling import PollBounds

    if settings.POLL_MIN_SECONDS > settings.POLL_MAX_SECONDS:
        raise ConfigurationError(
            f"POLL_MIN_SECONDS ({settings.POLL_MIN_SECONDS:g}) must not exceed "
            f"POLL_MAX_SECONDS ({settings.POLL_MAX_SECONDS:g})"
        )
    return PollSettings(
        bounds=PollBounds(settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS),
        history_size=settings.STARTUP_HISTORY_SIZE,
        schedule=settings.POLL_SCHEDULE,
    )


def health_settings(settings: Settings) -> HealthSettings:
    from novita_orchestrator.workflow.check_health import HealthSettings

    return HealthSettings(
        probe_timeout_seconds=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
        interval_seconds=settings.HEALTH_CHECK_INTERVAL_SECONDS,
        allow_private_targets=settings.ALLOW_PRIVATE_NETWORK_TARGETS,
    )


def resolve_limits(settings: Settings) -> ResolveLimits:
    from novita_orchestrator.workflow.resolve_target import ResolveLimits

    return ResolveLimits(startup_timeout_seconds=settings.STARTUP_TIMEOUT_SECONDS)


@dataclass
class Dependencies:
    """Everything a step needs, created lazily and kept for the life of the process."""

    settings: Settings
    clock: Clock
    #: A ready DynamoDB client (tests); None = built from the settings on first use.
    dynamodb_client: Any = None

    @cached_property
    def dynamodb(self) -> Any:
        if self.dynamodb_client is not None:
            return self.dynamodb_client
        from novita_orchestrator.store.resilience_store import build_dynamodb_client

        return build_dynamodb_client(self.settings)

    @cached_property
    def novita(self) -> NovitaClient:
        from novita_orchestrator.novita.client import NovitaClient
        from novita_orchestrator.resilience.factory import build_guard

        guard = build_guard(self.settings, self.clock, dynamodb_client=self.dynamodb)
        return NovitaClient(self.settings, guard=guard, clock=self.clock)

    @cached_property
    def operations(self) -> OperationsStore:
        from novita_orchestrator.store.operations_store import OperationsStore

        return OperationsStore(self.dynamodb, operations_table_name(self.settings))

    @cached_property
    def locks(self) -> LockStore:
        from novita_orchestrator.store.lock_store import LockStore

        return LockStore(self.dynamodb, operations_table_name(self.settings))

    @cached_property
    def stats(self) -> StartupStatsStore:
        from novita_orchestrator.store.startup_stats_store import StartupStatsStore

        return StartupStatsStore(self.dynamodb, operations_table_name(self.settings))

    @cached_property
    def status_reader(self) -> StatusReader:
        """Status and name reads, shared through the snapshot table when one is configured."""
        from novita_orchestrator.store.status_snapshot_store import DynamoSnapshotStore
        from novita_orchestrator.workflow.status_reader import SharedReadSettings, StatusReader

        table = self.settings.STATUS_SNAPSHOT_TABLE_NAME
        return StatusReader(
            self.novita,
            DynamoSnapshotStore(self.dynamodb, table) if table else None,
            self.clock,
            SharedReadSettings(
                max_age_seconds=self.settings.STATUS_SNAPSHOT_MAX_AGE_SECONDS,
                list_threshold=self.settings.STATUS_SNAPSHOT_LIST_THRESHOLD,
                page_size=self.settings.NOVITA_PAGE_SIZE,
            ),
        )

    @cached_property
    def http_get(self) -> HttpGet:
        import requests  # here, not at import: the step functions that never probe never need it

        from novita_orchestrator.workflow.health import http_get_status

        session = requests.Session()
        session.trust_env = False  # probes go straight to the instance, never through a proxy
        return http_get_status(session)


@lru_cache(maxsize=8)
def build_dependencies(settings: Settings) -> Dependencies:
    """The process's collaborators for these settings (settings are frozen, so they key the cache)."""
    return Dependencies(settings=settings, clock=clock_for_scale(settings.TIME_SCALE))
