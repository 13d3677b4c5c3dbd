"""The REST API's service: one guard shared by the Novita client and GET /health, the stores, Step
Functions, the dead-letter queue's depth and the idempotency table."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from novita_orchestrator.api.service import ApiDeps, ApiService, IdempotencyTable, idempotency_config
from novita_orchestrator.api.starter import WorkflowStarter
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
from novita_orchestrator.settings import ApiSettings
from novita_orchestrator.steps.cancel_operation import CancelDeps
from novita_orchestrator.store.event_bus import EventBridgeBus
from novita_orchestrator.store.executions import StepFunctionsExecutions
from novita_orchestrator.webhooks.dead_letters import DeadLetters
from novita_orchestrator.webhooks.queue import SqsNotificationQueue
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from novita_orchestrator.workflow.request import state_machines_by_kind


def api_service(settings: ApiSettings) -> ApiService:
    aws, clock = Aws(), clock_of(settings)
    dynamodb = aws.dynamodb(settings.DYNAMODB_ENDPOINT_URL)
    guard = call_guard(settings, aws, clock)
    idempotency = None
    if settings.IDEMPOTENCY_TABLE_NAME:
        idempotency = IdempotencyTable(
            persistence=DynamoDBPersistenceLayer(
                table_name=settings.IDEMPOTENCY_TABLE_NAME, boto3_client=dynamodb
            ),
            config=idempotency_config(settings.IDEMPOTENCY_TTL_SECONDS),
        )
    dead_letters = None
    if settings.WEBHOOK_DLQ_URL:
        # Only the depth is read here; the queue it redrives to is not the API's business.
        dead_letters = DeadLetters(aws.client("sqs"), dlq_url=settings.WEBHOOK_DLQ_URL, queue_url="")
    novita = novita_client(settings, aws, clock, guard)
    operations = operations_store(settings, aws)
    locks = lock_store(settings, aws)
    reader = status_reader(settings, novita, aws, clock, page_size=settings.NOVITA_PAGE_SIZE)
    stepfunctions = aws.client("stepfunctions")
    return ApiService(
        ApiDeps(
            novita=novita,
            reader=reader,
            guard=guard,
            operations=operations,
            locks=locks,
            starter=WorkflowStarter(
                stepfunctions,
                settings.STATE_MACHINE_ARN,
                settings.STOP_STATE_MACHINE_ARN,
                operations=operations,
                env_values=env_values_store(settings, aws),
                clock=clock,
            ),
            url_policy=UrlPolicy.from_settings(settings),
            clock=clock,
            max_body_bytes=settings.API_MAX_BODY_BYTES,
            dead_letters=dead_letters,
            idempotency=idempotency,
            leases=lease_store(settings, aws),
            cancel=CancelDeps(
                operations=operations,
                locks=locks,
                executions=StepFunctionsExecutions(
                    stepfunctions,
                    state_machines_by_kind(settings.STATE_MACHINE_ARN, settings.STOP_STATE_MACHINE_ARN),
                ),
                queue=SqsNotificationQueue(aws.client("sqs"), settings.WEBHOOK_QUEUE_URL),
                events=EventBridgeBus(aws.client("events"), settings.EVENT_BUS_NAME),
                clock=clock,
                watches=reader,
            ),
        )
    )
