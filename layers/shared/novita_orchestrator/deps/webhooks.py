"""The webhook dispatcher: one pooled session, the SQS client, the signing secrets through a cache."""

from __future__ import annotations

from novita_orchestrator.deps import Aws
from novita_orchestrator.settings import WebhookDispatcherSettings
from novita_orchestrator.webhooks.delivery import RetrySchedule, WebhookSender, build_session
from novita_orchestrator.webhooks.dispatcher import WebhookDispatcher
from novita_orchestrator.webhooks.secrets import SigningSecrets, load_signing_secrets
from novita_orchestrator.webhooks.url_guard import UrlPolicy


def webhook_dispatcher(settings: WebhookDispatcherSettings) -> WebhookDispatcher:
    aws = Aws()

    def signing_secrets() -> SigningSecrets:
        # Read through Aws.secret's cache (WEBHOOK_SECRET_CACHE_SECONDS): a rotation reaches warm Lambdas.
        return load_signing_secrets(
            settings, lambda name, max_age: aws.secret(name, max_age=max_age, setting="WEBHOOK_SECRET_ARN")
        )

    signing_secrets()  # at init: a secret that is missing or malformed is a configuration error now
    sender = WebhookSender(
        build_session(settings.WEBHOOK_MAX_CONCURRENCY),
        signing_secrets,
        policy=UrlPolicy.from_settings(settings),
        timeout_seconds=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    return WebhookDispatcher(
        sender,
        aws.client("sqs"),
        queue_url=settings.WEBHOOK_QUEUE_URL,
        dlq_url=settings.WEBHOOK_DLQ_URL,
        schedule=RetrySchedule.parse(settings.WEBHOOK_RETRY_SCHEDULE_SECONDS),
        max_concurrency=settings.WEBHOOK_MAX_CONCURRENCY,
    )
