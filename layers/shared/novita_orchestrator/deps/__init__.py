"""The composition root: the one place that builds collaborators from settings, once per process.

Each function's entry (``functions/<name>/app.py``) builds its collaborators here at init and hands
them to its step or service; nothing else in the layer creates clients, stores or sessions. One
module per function (``deps/<name>.py`` for ``functions/<name>``), so a function imports only what
it uses, never another function's step (each module and each dataclass costs its init time):

* the workflow steps that call Novita (``resolve_target``, ``resolve_registry_auth``,
  ``launch_instance``, ``poll_status``, ``check_health``, ``stop_instance``, ``poll_stopped``), over
  :mod:`.novita` (the client and the guard in front of it) and :mod:`.status` (the status reader);
* :mod:`.finish`: FinishOperation and the lease watcher (the stores alone);
* :mod:`.api`: the REST API's service (plus idempotency);
* :mod:`.webhooks`: the webhook dispatcher;
* :mod:`.trigger`: the EventBridge trigger.

Every builder here is cheap to read and builds only what its function's events use.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from novita_orchestrator.clock import Clock, clock_for_scale
from novita_orchestrator.observability import logger
from novita_orchestrator.settings import ConfigurationError, FunctionSettings, OperationsTableSettings
from novita_orchestrator.store.env_values_store import DynamoEnvValuesStore
from novita_orchestrator.store.lease_store import DynamoLeaseStore
from novita_orchestrator.store.lock_store import DynamoLockStore
from novita_orchestrator.store.operations_store import DynamoOperationsStore

T = TypeVar("T")

#: What a secret holds until its value is put into it (template.yaml creates the secrets so).
UNSET_SECRET_VALUE = "unset"
# The guard sits in front of every Novita call and the stores in every step: fail fast, retry a little.
_DYNAMODB_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 3})


class Once(Generic[T]):
    """A collaborator built once per process: at init (:meth:`build_now`) when that works.

    A build that fails (a setting is wrong, a secret holds no value yet) is logged and tried again
    at the next call, which raises the error again until it succeeds: a function then answers each
    event naming the setting, and recovers without a redeploy once the setting or secret is fixed.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None

    def __call__(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def build_now(self) -> Once[T]:
        """Build at init; a ConfigurationError is logged here and raised by the first event."""
        try:
            self()
        except ConfigurationError as error:
            logger.error("the function is misconfigured", extra={"error": str(error)})
        finally:
            _resume_collecting()
        return self


def _resume_collecting() -> None:
    """The init is over (importing novita_orchestrator.cold_start paused the garbage collector).

    On Lambda, what init built lives as long as the container: it is frozen out of later collections
    first, so the first events do not pay for scanning it. The Lambda runtime sets
    AWS_LAMBDA_RUNTIME_API in the process environment; the local engine, which runs every function in
    one long-lived process, does not, and there collecting simply resumes.
    """
    if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
        gc.freeze()
    gc.enable()


@dataclass
class Aws:
    """The function's AWS clients, all from one botocore session: one loader, each model read once.

    botocore itself, not boto3: the functions use clients only, and importing boto3 (its resources and
    s3transfer, which imports multiprocessing) cost about a tenth of bare boto3's cold start
    (``make bench``, docs/BENCHMARKS.md). botocore reads the same variables and credential chain.
    """

    session: botocore.session.Session = field(default_factory=botocore.session.get_session)
    _clients: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    _secrets: dict[str, tuple[str, float]] = field(default_factory=dict)

    def client(self, service: str, *, endpoint_url: str | None = None, config: Config | None = None) -> Any:
        key = (service, endpoint_url)
        if key not in self._clients:
            self._clients[key] = self.session.create_client(service, endpoint_url=endpoint_url, config=config)
        return self._clients[key]

    def dynamodb(self, endpoint_url: str | None) -> Any:
        """DynamoDB with short timeouts (DYNAMODB_ENDPOINT_URL: DynamoDB Local, the local stack)."""
        return self.client("dynamodb", endpoint_url=endpoint_url, config=_DYNAMODB_CONFIG)

    def secret(self, secret_id: str, *, max_age: int, setting: str) -> str:
        """A secret's text, read again once it is ``max_age`` s old; ``setting`` names its variable.

        (Powertools Parameters' SecretsProvider caches the same way, but it imports boto3.)
        """
        cached = self._secrets.get(secret_id)
        if cached is not None and time.monotonic() - cached[1] < max_age:
            return cached[0]
        try:
            answer = self.client("secretsmanager").get_secret_value(SecretId=secret_id)
        except (ClientError, BotoCoreError):
            # The cause may quote the request; the message names the setting only.
            raise ConfigurationError(f"{setting}: the secret could not be read") from None
        value = answer.get("SecretString")
        if not isinstance(value, str) or value.strip() in {"", UNSET_SECRET_VALUE}:
            raise ConfigurationError(f"{setting}: the secret holds no value yet; put it into the secret")
        self._secrets[secret_id] = (value.strip(), time.monotonic())
        return value.strip()


def clock_of(settings: FunctionSettings) -> Clock:
    """The system clock, or a faster one on time-scaled local runs (TIME_SCALE)."""
    return clock_for_scale(settings.TIME_SCALE)


def operations_store(settings: OperationsTableSettings, aws: Aws) -> DynamoOperationsStore:
    return DynamoOperationsStore(aws.dynamodb(settings.DYNAMODB_ENDPOINT_URL), settings.OPERATIONS_TABLE_NAME)


def env_values_store(settings: OperationsTableSettings, aws: Aws) -> DynamoEnvValuesStore:
    """A create's environment values, kept out of the execution's history."""
    return DynamoEnvValuesStore(aws.dynamodb(settings.DYNAMODB_ENDPOINT_URL), settings.OPERATIONS_TABLE_NAME)


def lock_store(settings: OperationsTableSettings, aws: Aws) -> DynamoLockStore:
    return DynamoLockStore(aws.dynamodb(settings.DYNAMODB_ENDPOINT_URL), settings.OPERATIONS_TABLE_NAME)


def lease_store(settings: OperationsTableSettings, aws: Aws) -> DynamoLeaseStore:
    return DynamoLeaseStore(aws.dynamodb(settings.DYNAMODB_ENDPOINT_URL), settings.OPERATIONS_TABLE_NAME)
