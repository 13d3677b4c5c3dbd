"""Every environment variable the code reads, modelled per function and validated once, at init.

Each function has its own model (``ResolveTargetSettings``, ``ApiSettings``, ...) over one base, built
from a few groups (Novita access, the operations table, outbound calls): a variable the function
needs is required there, and rules between variables are validators of the model. ``Model.load()``
reads the environment (:mod:`.environment`: ``os.environ`` on Lambda) and fails with a
:class:`ConfigurationError` naming every bad variable; logic never reads the environment itself.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from novita_orchestrator.environment import current_environment

DEFAULT_NOVITA_BASE_URL = "https://api.novita.ai/gpu-instance/openapi/v1"


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


class FunctionSettings(BaseModel):
    """The base of every function's settings: field names are the environment variable names."""

    # An error names the variable as it is set. Values are given explicitly (tests) or by load().
    # defer_build: a model's validator is built when it is first used, so a function builds only its own.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    TIME_SCALE: float = Field(
        default=1.0,
        gt=0,
        le=10_000,
        description="Local runs only: the workflow clock runs this many times faster. Leave at 1 on AWS.",
    )

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """This function's variables from the environment (``overrides`` win), or ConfigurationError.

        An empty variable counts as unset (its default applies): templates render optional values as
        "" (e.g. an empty parameter).
        """
        environment = current_environment()
        values = {name: environment[name] for name in cls.model_fields if environment.get(name, "") != ""}
        try:
            return cls(**{**values, **overrides})
        except ValidationError as exc:
            raise ConfigurationError(f"invalid settings: {describe_problems(exc)}") from None


def describe_problems(exc: ValidationError) -> str:
    """``NAME: what is wrong`` for each problem; values are never shown (they may be secrets)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        message = "is not set" if error["type"] == "missing" else str(error["msg"])
        message = message.removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if name else message)
    return "; ".join(problems)


# --- groups of variables -------------------------------------------------------------------------


class DynamoDBSettings(FunctionSettings):
    DYNAMODB_ENDPOINT_URL: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="DynamoDB endpoint override (DynamoDB Local, the local stack); unset = the AWS endpoint.",
    )


class NovitaSettings(DynamoDBSettings):
    """What a function that calls Novita reads: the API, its key, and the shared breaker and limiter."""

    NOVITA_API_KEY: SecretStr | None = Field(
        default=None, description="Novita API key (Bearer token). Required by anything that calls Novita."
    )
    NOVITA_API_KEY_SECRET_ARN: str | None = Field(
        default=None,
        min_length=1,
        description="Secrets Manager secret (ARN or name) holding the Novita API key; read when "
        "NOVITA_API_KEY is unset.",
    )
    NOVITA_API_KEY_CACHE_SECONDS: int = Field(
        default=300, ge=0, le=3600, description="How long a process reuses the Novita API key it last read."
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

    RESILIENCE_TABLE_NAME: str | None = Field(
        default=None,
        min_length=3,
        description="DynamoDB table of the shared circuit breaker and rate limiter; unset = no guard.",
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

    @model_validator(mode="after")
    def _a_key_is_configured(self) -> Self:
        if self.novita_api_key() is None and not self.NOVITA_API_KEY_SECRET_ARN:
            raise ValueError(
                "NOVITA_API_KEY is not set (nor NOVITA_API_KEY_SECRET_ARN): the Novita API key is required"
            )
        return self

    @model_validator(mode="after")
    def _the_breaker_can_close(self) -> Self:
        if self.BREAKER_SUCCESSES_TO_CLOSE > self.BREAKER_HALF_OPEN_PROBES:
            raise ValueError(
                f"BREAKER_SUCCESSES_TO_CLOSE ({self.BREAKER_SUCCESSES_TO_CLOSE}) must not exceed "
                f"BREAKER_HALF_OPEN_PROBES ({self.BREAKER_HALF_OPEN_PROBES}): the breaker could never close"
            )
        return self

    def novita_api_key(self) -> str | None:
        """NOVITA_API_KEY when it is set (else the key is read from NOVITA_API_KEY_SECRET_ARN at init)."""
        key = self.NOVITA_API_KEY.get_secret_value().strip() if self.NOVITA_API_KEY else ""
        return key or None


class OperationsTableSettings(DynamoDBSettings):
    OPERATIONS_TABLE_NAME: str = Field(
        min_length=3, description="DynamoDB table of operations, per-instance locks and startup statistics."
    )


class OutboundSettings(FunctionSettings):
    """Where the function may send webhooks and probes (the outbound address policy)."""

    ALLOW_PRIVATE_NETWORK_TARGETS: bool = Field(
        default=False,
        description="Let webhooks and health probes reach loopback/private/link-local hosts (local runs); "
        "cloud metadata addresses stay refused.",
    )
    WEBHOOK_ALLOWED_HOSTS: str | None = Field(
        default=None,
        description="Optional comma-separated allow-list of webhook hosts (*.example.com: its subdomains).",
    )


class StatusSnapshotSettings(DynamoDBSettings):
    """The shared status snapshot (one listing serves the status reads of every operation in flight)."""

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


class StartupTimeoutSettings(FunctionSettings):
    STARTUP_TIMEOUT_SECONDS: float = Field(
        default=1800.0,
        ge=10,
        le=86_400,
        description="Longest a start/create may take, health checks included (a request may only lower it).",
    )
    STOP_TIMEOUT_SECONDS: float = Field(
        default=900.0,
        ge=10,
        le=86_400,
        description="Longest a stop/delete may take until exited/removed (a request may only lower it).",
    )


# --- one model per function ----------------------------------------------------------------------


class ResolveTargetSettings(
    NovitaSettings, OperationsTableSettings, OutboundSettings, StartupTimeoutSettings, StatusSnapshotSettings
):
    """ResolveTargetFunction."""

    NOVITA_PRICE_UNIT_USD: float = Field(
        default=0.00001,
        gt=0,
        le=1,
        description="USD per unit of Novita's product prices (create by GPU type; undocumented, see README).",
    )


class ResolveRegistryAuthSettings(NovitaSettings):
    """ResolveRegistryAuthFunction."""


class LaunchInstanceSettings(NovitaSettings, OperationsTableSettings):
    """LaunchInstanceFunction."""


class PollBoundsSettings(FunctionSettings):
    POLL_MIN_SECONDS: float = Field(default=5.0, ge=1, le=3600, description="Shortest wait between polls.")
    POLL_MAX_SECONDS: float = Field(default=60.0, ge=1, le=3600, description="Longest wait between polls.")

    @model_validator(mode="after")
    def _poll_bounds_are_ordered(self) -> Self:
        if self.POLL_MIN_SECONDS > self.POLL_MAX_SECONDS:
            raise ValueError(
                f"POLL_MIN_SECONDS ({self.POLL_MIN_SECONDS:g}) must not exceed "
                f"POLL_MAX_SECONDS ({self.POLL_MAX_SECONDS:g})"
            )
        return self


class PollStatusSettings(NovitaSettings, OperationsTableSettings, StatusSnapshotSettings, PollBoundsSettings):
    """PollStatusFunction."""

    POLL_SCHEDULE: Literal["adaptive", "exponential"] = Field(
        default="adaptive",
        description="adaptive: learn from recent startups of the product; exponential: double each wait.",
    )
    STARTUP_HISTORY_SIZE: int = Field(
        default=5, ge=0, le=100, description="Recent startups of the same product that adaptive polling uses."
    )


class CheckHealthSettings(NovitaSettings, OperationsTableSettings, OutboundSettings):
    """CheckHealthFunction."""

    HEALTH_CHECK_TIMEOUT_SECONDS: float = Field(
        default=5.0, gt=0, le=60, description="Time one health probe may take (a request may set its own)."
    )
    HEALTH_CHECK_INTERVAL_SECONDS: float = Field(
        default=2.0,
        ge=1,
        le=600,
        description="Wait between health probes of an unhealthy app (probes are cheap: no Novita call).",
    )


class LeaseWatcherSettings(FunctionSettings):
    LEASE_STATE_MACHINE_ARN: str = Field(
        min_length=1, description="The auto-stop lease watcher a ready start with autoStop starts."
    )


class FinishOperationSettings(OperationsTableSettings, LeaseWatcherSettings):
    """FinishOperationFunction."""

    AUTO_STOP_WARNING_SECONDS: float = Field(
        default=600.0,
        ge=0,
        le=86_400,
        description="Seconds before an auto-stop lease stops its instance: instance.autostop.pending.",
    )


class StopInstanceSettings(NovitaSettings, OperationsTableSettings):
    """StopInstanceFunction."""


class PollStoppedSettings(NovitaSettings, OperationsTableSettings, PollBoundsSettings):
    """PollStoppedFunction."""


class WatchLeaseSettings(OperationsTableSettings, LeaseWatcherSettings):
    """WatchLeaseFunction."""

    STOP_STATE_MACHINE_ARN: str = Field(
        min_length=1, description="The stop workflow an auto-stop lease that ran out starts."
    )


class StateMachineSettings(FunctionSettings):
    STATE_MACHINE_ARN: str = Field(
        min_length=1, description="The startup workflow the API and the trigger start (StartExecution)."
    )
    STOP_STATE_MACHINE_ARN: str = Field(
        min_length=1, description="The stop workflow (stop, delete) the API and the trigger start."
    )


class ApiSettings(
    NovitaSettings, OperationsTableSettings, OutboundSettings, StateMachineSettings, StatusSnapshotSettings
):
    """ApiFunction."""

    IDEMPOTENCY_TABLE_NAME: str | None = Field(
        default=None,
        min_length=3,
        description="DynamoDB table of the API's Idempotency-Key records; unset = the header is refused.",
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
    WEBHOOK_DLQ_URL: str | None = Field(
        default=None, pattern=r"^https?://", description="The webhook dead-letter queue (its depth: /health)."
    )
    # A cancel ends the operation as its workflow would: its terminal notification and event.
    WEBHOOK_QUEUE_URL: str = Field(
        pattern=r"^https?://",
        description="The webhook queue (a cancelled operation's terminal notification).",
    )
    EVENT_BUS_NAME: str = Field(
        min_length=1, description="The service's EventBridge bus (a cancelled operation's terminal event)."
    )


class StartTriggerSettings(OperationsTableSettings, OutboundSettings, StateMachineSettings):
    """StartTriggerFunction."""


class WebhookDispatcherSettings(OutboundSettings):
    """WebhookDispatcherFunction."""

    WEBHOOK_QUEUE_URL: str = Field(
        pattern=r"^https?://", description="The webhook queue (retries set its visibility)."
    )
    WEBHOOK_DLQ_URL: str = Field(
        pattern=r"^https?://", description="The webhook dead-letter queue (permanent failures)."
    )
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
    WEBHOOK_MAX_CONCURRENCY: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Deliveries one dispatcher runs at once (and its connection pool).",
    )

    @field_validator("WEBHOOK_RETRY_SCHEDULE_SECONDS")
    @classmethod
    def _retry_delays_fit_sqs(cls, value: str) -> str:
        if any(int(part) > 43_200 for part in value.split(",")):
            raise ValueError("each delay must be at most 43200 seconds (the SQS visibility timeout limit)")
        return value

    @model_validator(mode="after")
    def _webhooks_can_be_signed(self) -> Self:
        if self.WEBHOOK_SIGNING_SECRET is None and not self.WEBHOOK_SECRET_ARN:
            raise ValueError(
                "neither WEBHOOK_SIGNING_SECRET nor WEBHOOK_SECRET_ARN is set: webhooks cannot be signed"
            )
        return self


#: Every function's settings model, by the template's logical ID of the function.
FUNCTION_SETTINGS: dict[str, type[FunctionSettings]] = {
    "ResolveTargetFunction": ResolveTargetSettings,
    "ResolveRegistryAuthFunction": ResolveRegistryAuthSettings,
    "LaunchInstanceFunction": LaunchInstanceSettings,
    "PollStatusFunction": PollStatusSettings,
    "CheckHealthFunction": CheckHealthSettings,
    "FinishOperationFunction": FinishOperationSettings,
    "StopInstanceFunction": StopInstanceSettings,
    "PollStoppedFunction": PollStoppedSettings,
    "WatchLeaseFunction": WatchLeaseSettings,
    "ApiFunction": ApiSettings,
    "StartTriggerFunction": StartTriggerSettings,
    "WebhookDispatcherFunction": WebhookDispatcherSettings,
}


def setting_names() -> list[str]:
    """Every variable some function reads (what the README documents, what local runs pass through)."""
    return sorted({name for model in FUNCTION_SETTINGS.values() for name in model.model_fields})
