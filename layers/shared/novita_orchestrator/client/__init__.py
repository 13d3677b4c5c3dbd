"""A Python client for the novita-orchestrator REST API, and webhook verification for receivers.

    from novita_orchestrator.client import OrchestratorClient, SigV4, OperationFailed

    client = OrchestratorClient("https://abc123.execute-api.us-east-1.amazonaws.com/v1", auth=SigV4())
    accepted = client.start("dev-box", webhook_url="https://hooks.example.com/novita")
    try:
        operation = client.wait(accepted, timeout=900)   # ready: phases, timings, notifications
    except OperationFailed as failed:
        print(failed.operation.outcome.code, failed.operation.outcome.message)

This package imports nothing else of ``novita_orchestrator`` (only ``requests``, ``botocore`` and
``standardwebhooks``), so it can be copied or split out on its own.
"""

from novita_orchestrator.client.api import OrchestratorClient, retry_after_seconds
from novita_orchestrator.client.auth import ApiKey, Auth, NoAuth, SigV4
from novita_orchestrator.client.errors import (
    ApiError,
    BadRequest,
    ClientConfigurationError,
    Conflict,
    InvalidRequest,
    NotAuthorized,
    NotFound,
    OperationFailed,
    OrchestratorError,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    TransportError,
    UpstreamError,
    WaitTimeout,
    WebhookVerificationFailed,
)
from novita_orchestrator.client.models import (
    Accepted,
    Cancelled,
    Health,
    Instance,
    Lease,
    Operation,
    Outcome,
    Port,
)
from novita_orchestrator.client.webhooks import WebhookEvent, verify_webhook

__all__ = [
    "Accepted",
    "ApiError",
    "ApiKey",
    "Auth",
    "BadRequest",
    "Cancelled",
    "ClientConfigurationError",
    "Conflict",
    "Health",
    "Instance",
    "InvalidRequest",
    "Lease",
    "NoAuth",
    "NotAuthorized",
    "NotFound",
    "Operation",
    "OperationFailed",
    "OrchestratorClient",
    "OrchestratorError",
    "Outcome",
    "PayloadTooLarge",
    "Port",
    "RateLimited",
    "ServiceError",
    "ServiceUnavailable",
    "SigV4",
    "TransportError",
    "UpstreamError",
    "WaitTimeout",
    "WebhookEvent",
    "WebhookVerificationFailed",
    "retry_after_seconds",
    "verify_webhook",
]
