"""The collaborators of PollStatus: the status reader, the operations table and the startup statistics."""

from __future__ import annotations

from novita_orchestrator.deps import Aws, clock_of, operations_store
from novita_orchestrator.deps.novita import guarded_novita_client
from novita_orchestrator.deps.status import status_reader
from novita_orchestrator.settings import PollStatusSettings
from novita_orchestrator.steps.poll_status import PollStatusDeps
from novita_orchestrator.store.startup_stats_store import DynamoStartupStatsStore
from novita_orchestrator.workflow.polling import PollBounds


def poll_status_deps(settings: PollStatusSettings) -> PollStatusDeps:
    aws, clock = Aws(), clock_of(settings)
    novita = guarded_novita_client(settings, aws, clock)
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
