"""The Novita v1 GPU-instance client.

One pooled ``requests.Session`` per client, ``Authorization: Bearer`` set on the session only, connect
and read timeouts on every request, every HTTP attempt wrapped by the :class:`CallGuard` (shared
circuit breaker and rate limiter), and retries only where repeating is safe:

* reads retry on any retryable error (5xx, timeout, network, 429);
* start/stop retry the POST only after a GET shows the action has not taken effect;
* create is never repeated blindly: a lost answer is resolved by looking the instance up by name.

Results are typed models (:mod:`.models`) that carry no secrets.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter

from novita_orchestrator.clock import SYSTEM_CLOCK, Clock
from novita_orchestrator.novita.error_mapping import error_from_response, error_from_transport
from novita_orchestrator.novita.errors import (
    DuplicateInstanceName,
    NetworkError,
    NotFound,
    NovitaError,
    NovitaTimeout,
    RateLimited,
    UnexpectedResponse,
    UpstreamError,
)
from novita_orchestrator.novita.guard import CallGuard, NoGuard
from novita_orchestrator.novita.models import (
    REMOVED_STATUSES,
    STARTING_STATUSES,
    STOPPING_STATUSES,
    CreateInstanceRequest,
    Instance,
    InstanceSummary,
    Product,
    RegistryAuth,
    Template,
    is_documented_status,
)
from novita_orchestrator.novita.pagination import PageLayouts, read_all_pages
from novita_orchestrator.novita.redaction import secret_values
from novita_orchestrator.novita.retry import RetryAttempt, RetryPolicy
from novita_orchestrator.observability import logger
from novita_orchestrator.settings import ConfigurationError, NovitaSettings

M = TypeVar("M", bound=BaseModel)

POOL_SIZE = 32


class NovitaClient:
    """Typed access to the Novita v1 GPU-instance API (see the module docstring for the retry rules)."""

    def __init__(
        self,
        settings: NovitaSettings,
        *,
        api_key: str | None = None,
        session: requests.Session | None = None,
        guard: CallGuard | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``api_key`` is the key read from NOVITA_API_KEY_SECRET_ARN; NOVITA_API_KEY wins over it."""
        api_key = settings.novita_api_key() or api_key
        if not api_key:
            raise ConfigurationError("NOVITA_API_KEY_SECRET_ARN: the Novita API key was not read from it")
        self._base_url = settings.NOVITA_BASE_URL.rstrip("/")
        self._timeout = (settings.NOVITA_CONNECT_TIMEOUT_SECONDS, settings.NOVITA_READ_TIMEOUT_SECONDS)
        self._page_size = settings.NOVITA_PAGE_SIZE
        self._guard: CallGuard = guard if guard is not None else NoGuard()
        self._clock = clock
        self._retry = RetryPolicy(settings, clock)
        # How each list endpoint numbers and caps its pages, learned once for the client's life.
        self._layouts = PageLayouts()
        # Masked wherever Novita (or requests) might echo it back.
        self._secrets = frozenset({api_key})
        self._session = session if session is not None else requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update(
            {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        )

    @property
    def max_attempts(self) -> int:
        """Attempts per call; also the most POSTs a single start, stop or create sends."""
        return self._retry.max_attempts

    def close(self) -> None:
        self._session.close()

    # --- instances ------------------------------------------------------------------------------

    def list_instances(
        self, name: str | None = None, status: str | None = None, *, retried: bool = True
    ) -> list[InstanceSummary]:
        """Every instance (all pages). ``name`` is Novita's fuzzy filter; ``status`` an exact status.
        ``retried=False``: one attempt per page, for a caller with a fallback of its own."""
        return self._list_instances(name, status, self._retry.deadline(), attempts=None if retried else 1)

    def find_instances_by_name(self, name: str) -> list[InstanceSummary]:
        """Instances whose name is exactly ``name`` (case-sensitive), from every page of the fuzzy filter.

        Deleted instances (``toRemove``/``removing``/``removed``, still listed for a while) never match."""
        return self._named(name, self._retry.deadline())

    def get_instance(self, instance_id: str) -> Instance:
        """One instance with its port endpoints; SSH and web-terminal passwords are not kept."""
        data = self._read(
            "get_instance", "/gpu/instance", {"instanceId": instance_id}, self._retry.deadline()
        )
        return self._parse(Instance, data, "get_instance")

    def start_instance(self, instance_id: str) -> None:
        """Start an instance; an instance already starting or running counts as started.

        At most ``NOVITA_MAX_ATTEMPTS`` POSTs (default 4) are sent. A 429 or a connection that was
        never made is simply retried; after a 5xx, a timeout or a connection lost after sending, the
        POST is repeated only if a GET shows the instance is not yet
        ``toStart``/``starting``/``pulling``/``running``/``toRestart``/``restarting`` (a late duplicate
        start is refused by Novita, so repeating is safe once the state says it has not happened).
        Any other refusal (a 4xx but 401/403/429, named or not: Novita answers a start of a starting
        instance with a bare ``400 "invalid state change"``) is success when the GET shows one of
        those statuses, or a status Novita does not document (in progress), and is raised otherwise.
        """
        self._lifecycle_action("start_instance", "/gpu/instance/start", instance_id, STARTING_STATUSES)

    def stop_instance(self, instance_id: str) -> None:
        """Stop an instance; an instance already stopping or exited counts as stopped.

        Same rules and the same bound (``NOVITA_MAX_ATTEMPTS`` POSTs) as :meth:`start_instance`, with
        ``toStop``/``stopping``/``exited`` as the statuses showing the stop took effect.
        """
        self._lifecycle_action("stop_instance", "/gpu/instance/stop", instance_id, STOPPING_STATUSES)

    def delete_instance(self, instance_id: str) -> None:
        """Delete an instance; an instance already ``toRemove``/``removing``/``removed`` counts as deleted.

        Same rules and the same bound (``NOVITA_MAX_ATTEMPTS`` POSTs) as :meth:`start_instance`.
        """
        self._lifecycle_action("delete_instance", "/gpu/instance/delete", instance_id, REMOVED_STATUSES)

    def create_instance(
        self, request: CreateInstanceRequest, known_ids: Collection[str] | None = None
    ) -> str:
        """Create an instance and return its ID. Never creates two for one call.

        A 429 or a connection that was never made (nothing reached Novita) is retried. After a 5xx,
        a timeout or a connection lost after sending, the instance may or may not exist, so the
        client lists instances by the request's exact name: exactly one new one -> its ID; several
        -> :class:`DuplicateInstanceName`; none -> the POST is sent again after a 5xx or a lost
        connection, but *not* after a timeout: Novita may still be creating it, so the name is looked
        up again with growing waits until the instance appears or the call's budget runs out
        (then NovitaTimeout). Instances that already had the name before the call are not counted (they
        are listed once up front, unless the caller passes ``known_ids``: what it listed before its
        first attempt, so a repeated call never takes its own earlier instance for an old one).
        Without a name nothing can be looked up, so such a failure is raised at once. If the lookup
        itself fails, its error is raised and nothing is re-sent.
        At most ``NOVITA_MAX_ATTEMPTS`` POSTs are sent.
        """
        operation = "create_instance"
        deadline = self._retry.deadline()
        body = request.to_body()
        secrets = self._secrets | secret_values(body)
        name = request.name or None
        if known_ids is None:
            known_ids = {i.id for i in self._named(name, deadline)} if name else set()
        existing = frozenset(known_ids)

        def attempt() -> str:
            try:
                data = self._send(
                    operation, "POST", "/gpu/instance/create", deadline, body=body, secrets=secrets
                )
            except NovitaError as error:
                if _not_processed(error):
                    raise RetryAttempt(error) from error
                if not (_outcome_unknown(error) and name):
                    raise
                found = self._created_by_name(name, existing, deadline, error)
                if found is None and isinstance(error, NovitaTimeout):
                    # Novita may still be working on it: a second POST could create a twin, so wait
                    # for the instance to appear instead, within the call's budget.
                    found = self._await_created(name, existing, deadline, error)
                    if found is None:
                        raise NovitaTimeout(
                            f"Novita {operation} timed out and no instance named {name!r} appeared before"
                            " the call's time budget ran out; not sent again because it may still be"
                            " created (look it up by name later)",
                            operation=operation,
                        ) from error
                if found is None:
                    raise RetryAttempt(error) from error
                logger.warning(
                    "Novita create answer was lost; found the instance by name",
                    extra={"operation": operation, "instance_id": found, "error_code": error.code},
                )
                return found
            instance_id = data.get("id")
            if not isinstance(instance_id, str) or not instance_id:
                raise UnexpectedResponse(
                    f"Novita {operation} answered without an instance id", operation=operation
                )
            return instance_id

        return self._retry.run(operation, deadline, attempt)

    def created_instance(self, name: str, known_ids: Collection[str]) -> str | None:
        """The one instance named ``name`` that is not in ``known_ids`` (an earlier create made it), if
        any; several are :class:`DuplicateInstanceName` (never guessed)."""
        return self._new_named(name, known_ids, self._retry.deadline())

    def _created_by_name(
        self, name: str, known_ids: Collection[str], deadline: float, error: NovitaError
    ) -> str | None:
        """The ID of the one instance named ``name`` that did not exist before the create, if any.

        After a create that timed out, a lookup that fails too (the budget spent, Novita still slow)
        says what matters to the caller: the create may still happen (nothing is sent again).
        """
        try:
            return self._new_named(name, known_ids, deadline)
        except DuplicateInstanceName as duplicate:
            raise duplicate from error
        except NovitaError as lookup:
            if not isinstance(error, NovitaTimeout):
                raise
            raise NovitaTimeout(
                f"Novita create_instance timed out and looking up {name!r} failed too ({lookup.code});"
                " not sent again because it may still be created (look it up by name later)",
                operation="create_instance",
            ) from lookup

    def _new_named(self, name: str, known_ids: Collection[str], deadline: float) -> str | None:
        created = [i for i in self._named(name, deadline) if i.id not in known_ids]
        if len(created) > 1:
            raise DuplicateInstanceName(
                f"Novita create_instance: {len(created)} new instances named {name!r}; not guessing",
                operation="create_instance",
                reason="DUPLICATE_INSTANCE_NAME",
            )
        return created[0].id if created else None

    def _await_created(
        self, name: str, known_ids: Collection[str], deadline: float, error: NovitaError
    ) -> str | None:
        """Look the name up again, with growing waits, until the instance appears or the budget ends."""
        delay = self._retry.base_seconds
        while self._clock.now() + delay < deadline:
            self._clock.sleep(delay)
            found = self._created_by_name(name, known_ids, deadline, error)
            if found is not None:
                return found
            delay = min(2 * delay, self._retry.max_seconds)
        return None

    # --- templates, registry auths, products ---------------------------------------------------

    def list_templates(
        self, name: str | None = None, channel: str = "private", template_type: str | None = None
    ) -> list[Template]:
        """Templates of one channel (``private``, ``official`` or ``community``), every page."""
        params: dict[str, Any] = {
            "channel": channel,
            "isMyCommunity": "true" if channel == "private" else "false",
        }
        if name:
            params["name"] = name
        if template_type:
            params["type"] = template_type
        rows = self._all_pages("list_templates", "/templates", "template", params, self._retry.deadline())
        return [self._parse(Template, row, "list_templates") for row in rows]

    def get_template(self, template_id: str) -> Template:
        data = self._read("get_template", "/template", {"templateId": template_id}, self._retry.deadline())
        return self._parse(Template, data.get("template"), "get_template")

    def list_registry_auths(self) -> list[RegistryAuth]:
        """Saved container-registry credentials: ID, name and username only (passwords are dropped)."""
        data = self._read("list_registry_auths", "/repository/auths", {}, self._retry.deadline())
        return [
            self._parse(RegistryAuth, row, "list_registry_auths")
            for row in _rows(data, "data", "list_registry_auths")
        ]

    def get_registry_auth(self, auth_id: str) -> RegistryAuth:
        """One saved registry credential by ID (Novita has no single-get endpoint: it is listed)."""
        for auth in self.list_registry_auths():
            if auth.id == auth_id:
                return auth
        raise NotFound(
            f"Novita registry auth {auth_id!r} does not exist",
            operation="get_registry_auth",
            reason="NOT_FOUND",
        )

    def list_products(
        self,
        cluster_id: str | None = None,
        gpu_num: int | None = None,
        product_name: str | None = None,
        billing_method: str | None = None,
    ) -> list[Product]:
        params: dict[str, Any] = {
            key: value
            for key, value in (
                ("clusterId", cluster_id),
                ("gpuNum", gpu_num),
                ("productName", product_name),
                ("billingMethod", billing_method),
            )
            if value is not None and value != ""
        }
        data = self._read("list_products", "/products", params, self._retry.deadline())
        return [self._parse(Product, row, "list_products") for row in _rows(data, "data", "list_products")]

    # --- plumbing ------------------------------------------------------------------------------

    def _list_instances(
        self, name: str | None, status: str | None, deadline: float, *, attempts: int | None = None
    ) -> list[InstanceSummary]:
        params = {key: value for key, value in (("name", name), ("status", status)) if value}
        rows = self._all_pages("list_instances", "/gpu/instances", "instances", params, deadline, attempts)
        return [self._parse(InstanceSummary, row, "list_instances") for row in rows]

    def _named(self, name: str, deadline: float) -> list[InstanceSummary]:
        return [
            instance
            for instance in self._list_instances(name, None, deadline)
            if instance.name == name and instance.status not in REMOVED_STATUSES
        ]

    def _lifecycle_action(self, operation: str, path: str, instance_id: str, done: Collection[str]) -> None:
        deadline = self._retry.deadline()

        def attempt() -> None:
            try:
                self._send(operation, "POST", path, deadline, body={"instanceId": instance_id})
                return
            except NovitaError as error:
                refused = _refused(error)
                if _not_processed(error):
                    raise RetryAttempt(error) from error
                if not (refused or _outcome_unknown(error)):
                    raise
                status = self._status_if_known(instance_id, deadline)
                if status is not None and (status in done or not is_documented_status(status)):
                    logger.info(
                        "Novita action already in effect or in progress",
                        extra={"operation": operation, "instance_status": status, "error_code": error.code},
                    )
                    return
                if refused:
                    raise
                raise RetryAttempt(error) from error

        self._retry.run(operation, deadline, attempt)

    def _status_if_known(self, instance_id: str, deadline: float) -> str | None:
        """The instance's status from one GET, or None if that GET failed at Novita or on the way."""
        try:
            data = self._send(
                "get_instance", "GET", "/gpu/instance", deadline, params={"instanceId": instance_id}
            )
        except NovitaError as error:
            if error.status is None and not isinstance(error, NovitaTimeout | NetworkError):
                raise  # refused by the guard (breaker open, no rate slot): stop here
            return None
        status = data.get("status")
        return status if isinstance(status, str) else None

    def _read(
        self,
        operation: str,
        path: str,
        params: dict[str, Any],
        deadline: float,
        attempts: int | None = None,
    ) -> dict[str, Any]:
        """A GET, retried on any retryable error (at most ``attempts`` tries, if given)."""

        def attempt() -> dict[str, Any]:
            try:
                return self._send(operation, "GET", path, deadline, params=params)
            except NovitaError as error:
                if error.retryable:
                    raise RetryAttempt(error) from error
                raise

        return self._retry.run(operation, deadline, attempt, max_attempts=attempts)

    def _all_pages(
        self,
        operation: str,
        path: str,
        items_key: str,
        params: dict[str, Any],
        deadline: float,
        attempts: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of every page, each once, however Novita numbers and caps its pages (see pagination)."""

        def fetch(page_num: int, page_size: int) -> tuple[list[dict[str, Any]], int | None]:
            query = {**params, "pageSize": page_size, "pageNum": page_num}
            data = self._read(operation, path, query, deadline, attempts)
            return _rows(data, items_key, operation), _as_int(data.get("total"))

        return read_all_pages(fetch, self._layouts.for_path(path), self._page_size, operation=operation)

    def _send(
        self,
        operation: str,
        method: str,
        path: str,
        deadline: float,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        secrets: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """One HTTP attempt through the guard; the JSON object answered (``{}`` for empty/non-JSON 2xx)."""
        secrets = self._secrets if secrets is None else secrets
        if self._retry.attempt_timeout(self._timeout, deadline) is None:
            # Nothing is sent (nor counted against Novita): the call's time, or the invocation's, is up.
            raise error_from_transport(
                operation, requests.ConnectTimeout("the call's time budget ran out before this attempt")
            )
        self._guard.before_request(operation, deadline)
        # Cut to what is left after the guard's wait: the attempt in flight ends by the deadline too.
        timeout = self._retry.attempt_timeout(self._timeout, deadline) or (0.001, 0.001)
        try:
            response = self._session.request(
                method, self._base_url + path, params=params, json=body, timeout=timeout
            )
        except requests.RequestException as exc:
            error = error_from_transport(operation, exc, secrets, self._base_url)
            self._guard.on_failure(operation, error)
            raise error from None
        if not 200 <= response.status_code < 300:
            error = error_from_response(
                operation,
                response.status_code,
                response.text,
                response.headers.get("Retry-After"),
                self._clock.now(),
                secrets,
            )
            logger.info(
                "Novita call failed",
                extra={
                    "operation": operation,
                    "http_status": response.status_code,
                    "reason": error.reason,
                    "error_code": error.code,
                },
            )
            self._guard.on_failure(operation, error)
            raise error
        self._guard.on_success(operation)
        return _json_object(response)

    def _parse(self, model: type[M], data: Any, operation: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            # Only where and what: pydantic's own message would quote the (possibly secret) input.
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}" for e in exc.errors()
            )
            raise UnexpectedResponse(
                f"Novita {operation} answered an unexpected {model.__name__}: {problems}", operation=operation
            ) from None


def _not_processed(error: NovitaError) -> bool:
    """Novita cannot have acted on the request: a 429, or a connection that was never made."""
    if isinstance(error, RateLimited):
        return error.retryable
    return isinstance(error, NovitaTimeout | NetworkError) and not error.request_sent


def _refused(error: NovitaError) -> bool:
    """Novita answered a 4xx that is not about the key, the rate or time: it may mean "already so"."""
    return error.status is not None and 400 <= error.status < 500 and error.status not in {401, 403, 408, 429}


def _outcome_unknown(error: NovitaError) -> bool:
    """The request may or may not have been processed (5xx, timeout, connection lost after sending)."""
    if isinstance(error, NovitaTimeout | NetworkError):
        return error.request_sent
    return isinstance(error, UpstreamError)


def _json_object(response: requests.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _rows(data: dict[str, Any], key: str, operation: str) -> list[dict[str, Any]]:
    rows = data.get(key)
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise UnexpectedResponse(
            f"Novita {operation} answered {key!r} that is not a list of objects", operation=operation
        )
    return rows


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
