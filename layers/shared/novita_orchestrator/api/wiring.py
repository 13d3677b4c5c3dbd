"""Build the API from settings, once per process: the service's collaborators, idempotency, the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from novita_orchestrator.api import errors
from novita_orchestrator.settings import ConfigurationError, Settings
from novita_orchestrator.workflow.wiring import Dependencies, build_dependencies

# The app, the service and their clients are built at the first event (cached properties below), and
# their modules (boto3, the Powertools resolver, the routes) imported then, not at init.
if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from novita_orchestrator.api.service import ApiService, IdempotentAccept
    from novita_orchestrator.novita.guard import CallGuard


def powertools_idempotency(
    table_name: str, dynamodb_client: Any, ttl_seconds: int, lambda_context: Callable[[], Any]
) -> Callable[[IdempotentAccept], IdempotentAccept]:
    """Wrap an accept so a repeated (caller, Idempotency-Key) returns the stored first answer.

    The same key with a different request -> 422; while the first is still being handled -> 409.
    Failed requests are not stored, so a retry after an error really retries. ``lambda_context``
    gives the current invocation's context, so an in-progress record expires with the invocation.
    """
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
    config = IdempotencyConfig(
        event_key_jmespath="[principal, key]",
        payload_validation_jmespath="[request, statusBase]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
    )

    def wrap(accept: IdempotentAccept) -> IdempotentAccept:
        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="call", persistence_store=store, config=config
        )
        def accept_once(call: dict[str, Any]) -> dict[str, Any]:
            return accept(call)

        def keyed(call: dict[str, Any]) -> dict[str, Any]:
            context = lambda_context()
            if context is not None:
                config.register_lambda_context(context)
            try:
                result: dict[str, Any] = accept_once(call=call)
            except IdempotencyAlreadyInProgressError:
                raise errors.IdempotencyInProgress(
                    "a request with this Idempotency-Key is still being handled; retry shortly", retry_after=1
                ) from None
            except IdempotencyValidationError:
                raise errors.IdempotencyKeyReused(
                    "this Idempotency-Key was used for a different request", fields=["header:Idempotency-Key"]
                ) from None
            return result

        return keyed

    return wrap


@dataclass
class ApiRuntime:
    settings: Settings
    deps: Dependencies
    #: The invocation being answered (set by the handler before each request).
    lambda_context: Any = None

    @cached_property
    def guard(self) -> CallGuard:
        from novita_orchestrator.resilience.factory import build_guard

        return build_guard(self.settings, self.deps.clock, dynamodb_client=self.deps.dynamodb)

    @cached_property
    def service(self) -> ApiService:
        import boto3

        from novita_orchestrator.api.service import ApiService
        from novita_orchestrator.webhooks.url_guard import UrlPolicy

        settings = self.settings
        idempotent = None
        if settings.IDEMPOTENCY_TABLE_NAME:
            idempotent = powertools_idempotency(
                settings.IDEMPOTENCY_TABLE_NAME,
                self.deps.dynamodb,
                settings.IDEMPOTENCY_TTL_SECONDS,
                lambda: self.lambda_context,
            )
        return ApiService(
            novita=lambda: self.deps.novita,
            reader=lambda: self.deps.status_reader,
            operations=self.deps.operations,
            locks=self.deps.locks,
            stepfunctions=boto3.client("stepfunctions"),
            state_machine_arn=settings.STATE_MACHINE_ARN,
            sqs=boto3.client("sqs"),
            dead_letter_queue_url=settings.WEBHOOK_DLQ_URL,
            guard=lambda: self.guard,
            url_policy=UrlPolicy.from_settings(settings),
            clock=self.deps.clock,
            idempotent=idempotent,
        )

    @cached_property
    def app(self) -> APIGatewayRestResolver:
        from novita_orchestrator.api.routes import build_app

        return build_app(lambda: self.service, self.deps.clock)


@lru_cache(maxsize=4)
def build_api(settings: Settings) -> ApiRuntime:
    if not settings.OPERATIONS_TABLE_NAME:
        raise ConfigurationError("OPERATIONS_TABLE_NAME is not set: the operations table is required")
    return ApiRuntime(settings=settings, deps=build_dependencies(settings))
