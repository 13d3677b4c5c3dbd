"""Every environment variable the code reads, modelled and validated once.

Logic never reads ``os.environ``: handlers call :func:`get_settings` at cold start and pass the
values down. A bad value fails fast with a message naming the variable.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

DEFAULT_NOVITA_BASE_URL = "https://api.novita.ai/gpu-instance/openapi/v1"
#: The Novita API key secret's value until the key is put into it (template.yaml).
UNSET_SECRET_VALUE = "unset"


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


class _FromEnvironment(BaseModel):
    """What pydantic-settings' ``BaseSettings`` did here, without its import cost at every cold start
    (about an eighth of ``import boto3`` plus one client): each field is read from the environment variable of
    exactly its name, an empty variable counts as unset, and keyword arguments win over the environment.
    """

    def __init__(self, **values: Any) -> None:
        from_environment = {
            name: os.environ[name] for name in type(self).model_fields if os.environ.get(name, "") != ""
        }
        super().__init__(**{**from_environment, **values})


class Settings(_FromEnvironment):
    # Field names are the environment variable names, so an error names the variable as it is set.
    # An empty variable counts as unset (its default applies): templates render optional values as ""
    # (e.g. an empty parameter), and the local engine blanks the variables of other functions rather
    # than removing them, since removing keys from os.environ breaks threads iterating it.
    model_config = ConfigDict(extra="ignore", frozen=True)

    # --- Novita API -------------------------------------------------------------------------
    NOVITA_API_KEY: SecretStr | None = Field(
        default=None, description="Novita API key (Bearer token). Required by anything that calls Novita."
    )
    NOVITA_BASE_URL: str = Field(
        default=DEFAULT_NOVITA_BASE_URL,
        pattern=r"^https?://",
        description="Base of the v1 GPU-instance API; the client appends paths like /gpu/instance/start.",
    )
    NOVITA_CONNECT_TIMEOUT_SECONDS: float = Field(default=3.05, gt=0, le=60)
    NOVITA_READ_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0, le=300)
    NOVITA_MAX_ATTEMPTS: int = Field(
        default=4, ge=1, le=10, description="Attempts per Novita call (first included) where safe."
    )
    NOVITA_RETRY_BASE_SECONDS: float = Field(default=0.5, ge=0, le=30, description="First backoff delay.")
    NOVITA_RETRY_MAX_SECONDS: float = Field(default=8.0, ge=0, le=120, description="Largest backoff delay.")
    NOVITA_RETRY_BUDGET_SECONDS: float = Field(
        default=30.0, gt=0, le=900, description="Time one Novita call may take, retries and waits included."
    )
    NOVITA_PAGE_SIZE: int = Field(default=50, ge=1, le=1000, description="Page size for list calls.")

    # --- Shared resilience ------------------------------------------------------------------
    RESILIENCE_TABLE_NAME: str | None = Field(
        default=None,
        min_length=3,
        description="DynamoDB table of the shared circuit breaker and rate limiter; unset = no guard.",
    )
    DYNAMODB_ENDPOINT_URL: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="DynamoDB endpoint override (DynamoDB Local, the local stack); unset = the AWS endpoint.",
    )
    BREAKER_CONSECUTIVE_FAILURES: int = Field(
        default=5, ge=1, le=1000, description="Consecutive retryable Novita failures that open the breaker."
    )
    BREAKER_FAILURE_RATE_THRESHOLD: float = Field(
        default=0.5, gt=0, le=1, description="Failed share of calls in the window (0-1] that opens it."
    )
    BREAKER_MIN_CALLS: int = Field(
        default=10, ge=1, le=100_000, description="Calls the window needs before its failure rate counts."
    )
    BREAKER_WINDOW_SECONDS: float = Field(
        default=60.0, gt=0, le=3600, description="Length of the failure-rate window, from its first failure."
    )
    BREAKER_RECOVERY_SECONDS: float = Field(
        default=30.0, gt=0, le=3600, description="Time the breaker stays open before probing Novita."
    )
    BREAKER_HALF_OPEN_PROBES: int = Field(
        default=3, ge=1, le=100, description="Probe calls admitted, deployment-wide, while half-open."
    )
    BREAKER_SUCCESSES_TO_CLOSE: int = Field(
        default=2, ge=1, le=100, description="Probe successes that close it (<= BREAKER_HALF_OPEN_PROBES)."
    )
    BREAKER_STATE_CACHE_SECONDS: float = Field(
        default=1.0, ge=0, le=5, description="How long one process may reuse the breaker state it last read."
    )
    NOVITA_RATE_LIMIT_PER_SECOND: float = Field(
        default=5.0, gt=0, le=1000, description="Novita requests per second for the whole deployment."
    )
    NOVITA_RATE_BURST: int = Field(
        default=10, ge=1, le=10_000, description="Requests that may go at once after idling (bucket size)."
    )

    # --- Startup workflow -------------------------------------------------------------------
    OPERATIONS_TABLE_NAME: str | None = Field(
        default=None,
        min_length=3,
        description="DynamoDB table of operations, per-instance locks and startup statistics.",
    )
    POLL_MIN_SECONDS: float = Field(default=5.0, ge=1, le=3600, description="Shortest wait between polls.")
    POLL_MAX_SECONDS: float = Field(default=60.0, ge=1, le=3600, description="Longest wait between polls.")
    POLL_SCHEDULE: Literal["adaptive", "exponential"] = Field(
        default="adaptive",
        description="adaptive: learn from recent startups of the product; exponential: double each wait.",
    )
    STARTUP_TIMEOUT_SECONDS: float = Field(
        default=1800.0,
        ge=10,
        le=86_400,
        description="Longest a start/create may take, health checks included (a request may only lower it).",
    )
    STARTUP_HISTORY_SIZE: int = Field(
        default=5, ge=0, le=100, description="Recent startups of the same product that adaptive polling uses."
    )
    HEALTH_CHECK_TIMEOUT_SECONDS: float = Field(
        default=5.0, gt=0, le=60, description="Time one health probe may take (a request may set its own)."
    )
    HEALTH_CHECK_INTERVAL_SECONDS: float = Field(
        default=2.0,
        ge=1,
        le=600,
        description="Wait between health probes of an unhealthy app (probes are cheap: no Novita call).",
    )
    STATUS_SNAPSHOT_TABLE_NAME: str | None = Field(
        default=None,
        min_length=3,
        description="DynamoDB table of the shared status snapshot; unset = every status read is a GET.",
    )
    STATUS_SNAPSHOT_MAX_AGE_SECONDS: float = Field(
        default=2.0, gt=0, le=60, description="The oldest shared status a read uses (seconds)."
    )
    STATUS_SNAPSHOT_LIST_THRESHOLD: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="List once this many status reads are due; 0 = once they (expected) outnumber its pages.",
    )
    ALLOW_PRIVATE_NETWORK_TARGETS: bool = Field(
        default=False,
        description="Let webhooks and health probes reach loopback/private/link-local hosts (local runs).",
    )
    TIME_SCALE: float = Field(
        default=1.0,
        gt=0,
        le=10_000,
        description="Local runs only: the workflow clock runs this many times faster. Leave at 1 on AWS.",
    )

    # --- Webhooks ---------------------------------------------------------------------------
    WEBHOOK_SIGNING_SECRET: SecretStr | None = Field(
        default=None,
        description="Local runs: whsec_ signing secret(s), comma-separated, newest first; wins over the ARN.",
    )
    WEBHOOK_SECRET_ARN: str | None = Field(
        default=None,
        min_length=1,
        description="Secrets Manager secret (ARN or name) whose value is the whsec_ secret(s), newest first.",
    )
    WEBHOOK_SECRET_CACHE_SECONDS: int = Field(
        default=300, ge=0, le=3600, description="How long a dispatcher reuses the secrets it last read."
    )
    WEBHOOK_RETRY_SCHEDULE_SECONDS: str = Field(
        default="5,300,1800,7200,18000,36000",
        pattern=r"^\s*\d+(\s*,\s*\d+)*\s*$",
        description="Delays before each retry of a failed delivery (comma-separated seconds, each <= 43200).",
    )
    WEBHOOK_TIMEOUT_SECONDS: float = Field(
        default=10.0, gt=0, le=60, description="Time one webhook POST may take to connect and to answer."
    )
    WEBHOOK_ALLOWED_HOSTS: str | None = Field(
        default=None,
        description="Optional comma-separated allow-list of webhook hosts (*.example.com: its subdomains).",
    )
    WEBHOOK_QUEUE_URL: str | None = Field(
        default=None, pattern=r"^https?://", description="The webhook queue (retries set its visibility)."
    )
    WEBHOOK_DLQ_URL: str | None = Field(
        default=None, pattern=r"^https?://", description="The webhook dead-letter queue (permanent failures)."
    )
    WEBHOOK_MAX_CONCURRENCY: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Deliveries one dispatcher runs at once (and its connection pool).",
    )

    # --- API and triggers -------------------------------------------------------------------
    NOVITA_API_KEY_SECRET_ARN: str | None = Field(
        default=None,
        min_length=1,
        description="Secrets Manager secret (ARN or name) holding the Novita API key; read when "
        "NOVITA_API_KEY is unset.",
    )
    NOVITA_API_KEY_CACHE_SECONDS: int = Field(
        default=300, ge=0, le=3600, description="How long a process reuses the Novita API key it last read."
    )
    STATE_MACHINE_ARN: str | None = Field(
        default=None, min_length=1, description="The startup workflow the API starts (StartExecution)."
    )
    IDEMPOTENCY_TABLE_NAME: str | None = Field(
        default=None, min_length=3, description="DynamoDB table of the API's Idempotency-Key records."
    )
    IDEMPOTENCY_TTL_SECONDS: int = Field(
        default=86_400,
        ge=60,
        le=30 * 86_400,
        description="How long a repeated Idempotency-Key returns the first answer.",
    )
    API_MAX_BODY_BYTES: int = Field(
        default=16_384, ge=256, le=1_048_576, description="Largest request body the API accepts (413 above)."
    )

    @field_validator("WEBHOOK_RETRY_SCHEDULE_SECONDS")
    @classmethod
    def _retry_delays_fit_sqs(cls, value: str) -> str:
        if any(int(part) > 43_200 for part in value.split(",")):
            raise ValueError("each delay must be at most 43200 seconds (the SQS visibility timeout limit)")
        return value

    def novita_api_key(self) -> str:
        """The API key: NOVITA_API_KEY, else the NOVITA_API_KEY_SECRET_ARN secret; or ConfigurationError."""
        if self.NOVITA_API_KEY is not None and self.NOVITA_API_KEY.get_secret_value().strip():
            return self.NOVITA_API_KEY.get_secret_value().strip()
        if self.NOVITA_API_KEY_SECRET_ARN:
            return _secret_text(self.NOVITA_API_KEY_SECRET_ARN, self.NOVITA_API_KEY_CACHE_SECONDS)
        raise ConfigurationError(
            "NOVITA_API_KEY is not set (nor NOVITA_API_KEY_SECRET_ARN): the Novita API key is required"
        )


def _secret_text(secret_id: str, max_age: int) -> str:
    """A secret's value via Powertools Parameters (cached per process for ``max_age`` seconds)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(secret_id, max_age=max_age)
    except parameters.exceptions.GetParameterError:
        # The cause may quote the request; the message names the setting only.
        raise ConfigurationError("NOVITA_API_KEY_SECRET_ARN: the secret could not be read") from None
    # "unset" is what the template stores until the key is put into the secret.
    if not isinstance(value, str) or value.strip() in {"", UNSET_SECRET_VALUE}:
        raise ConfigurationError(
            "NOVITA_API_KEY_SECRET_ARN: the secret holds no Novita API key yet; put the key into it"
        )
    return value.strip()


def load_settings() -> Settings:
    """Read and validate the environment; raise ConfigurationError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigurationError(f"invalid settings: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, validated once (at cold start)."""
    return load_settings()
