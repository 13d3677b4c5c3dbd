"""The status reader of the functions that read instance statuses (ResolveTarget, PollStatus, the API):
through the shared snapshot table when STATUS_SNAPSHOT_TABLE_NAME is set, else one GET per read."""

from __future__ import annotations

from novita_orchestrator.clock import Clock
from novita_orchestrator.deps import Aws
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.settings import StatusSnapshotSettings
from novita_orchestrator.steps.status_reader import SharedReadSettings, StatusReader
from novita_orchestrator.store.status_snapshot_store import DynamoSnapshotStore


def status_reader(
    settings: StatusSnapshotSettings, novita: NovitaClient, aws: Aws, clock: Clock, *, page_size: int
) -> StatusReader:
    """``page_size``: NOVITA_PAGE_SIZE (what one listing of the snapshot costs, in requests)."""
    table = settings.STATUS_SNAPSHOT_TABLE_NAME
    store = DynamoSnapshotStore(aws.dynamodb(settings.DYNAMODB_ENDPOINT_URL), table) if table else None
    return StatusReader(
        novita,
        store,
        clock,
        SharedReadSettings(
            max_age_seconds=settings.STATUS_SNAPSHOT_MAX_AGE_SECONDS,
            list_threshold=settings.STATUS_SNAPSHOT_LIST_THRESHOLD,
            page_size=page_size,
        ),
    )
