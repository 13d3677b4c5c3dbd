"""``OrchestratorClient``: the REST API over HTTP, with typed results and typed errors.

Retries: a 429 or 503 answer (the API asks to come back later, and nothing was started) is retried
up to ``retries`` times, each after the answer's ``Retry-After`` (or a short growing wait without
one). When the API asks for a longer wait than ``max_retry_wait`` the error is raised at once, with
``retry_after_seconds`` set, so the caller decides. Starts and creates always carry an
``Idempotency-Key`` (a fresh one per call unless given), so a retried request never starts a second
operation. A heartbeat and a lease change are retried as they are: a repeat only sets the same thing
again.
"""

from __future__ import annotations

import email.utils
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from novita_orchestrator.client.auth import Auth, NoAuth
from novita_orchestrator.client.errors import (
    ApiError,
    ClientConfigurationError,
    NotFound,
    OperationFailed,
    TransportError,
    WaitTimeout,
    error_from_answer,
)
from novita_orchestrator.client.models import Accepted, Cancelled, Health, Instance, Lease, Operation

#: Statuses that mean "come back later; nothing happened".
RETRIED_STATUSES = frozenset({429, 503})
#: The service's own longest operation (``STARTUP_TIMEOUT_SECONDS``' default).
DEFAULT_WAIT_SECONDS = 1800.0
#: How long an operation may be unknown to ``GET /operations/{id}`` before following it gives up: a
#: deployment may record a new operation only once its workflow runs, a moment after the 202.
NOT_FOUND_GRACE_SECONDS = 30.0

#: Something that names an operation: its ID, or an answer that carries one.
OperationRef = str | Accepted | Operation


class OrchestratorClient:
    """The novita-orchestrator REST API at ``url`` (the stack's ``ApiUrl``, or ``serve``'s URL).

    ``auth``: :class:`SigV4` (the stack's default), :class:`ApiKey`, or :class:`NoAuth` (default).
    ``sleep`` waits between retries and polls (swap it to observe the waits).
    """

    def __init__(
        self,
        url: str,
        auth: Auth | None = None,
        *,
        timeout: float | tuple[float, float] = (3.05, 30.0),
        retries: int = 3,
        max_retry_wait: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ClientConfigurationError(f"url: expected http(s)://host[/stage], got {url!r}")
        if retries < 0:
            raise ClientConfigurationError("retries: must be 0 or more")
        self.url = url.rstrip("/")
        self.auth: Auth = auth if auth is not None else NoAuth()
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self._http = session if session is not None else requests.Session()
        self._sleep = sleep

    # --- operations ------------------------------------------------------------------------------

    def start(
        self,
        ref: str,
        *,
        webhook_url: str | None = None,
        health_check: Mapping[str, Any] | None = None,
        timeout_seconds: float | None = None,
        auto_stop_after: float | None = None,
        auto_stop_idle: float | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Start an instance (ID or exact name); ``health_check`` e.g. ``{"port": 8888, "path": "/"}``.

        ``auto_stop_after`` / ``auto_stop_idle``: once ready, an auto-stop lease stops the instance
        that many seconds later / that long after the last :meth:`heartbeat`, whichever comes first.
        """
        body = _options(webhook_url, health_check, timeout_seconds, auto_stop_after, auto_stop_idle)
        return self._operation("POST", f"/instances/{_segment(ref)}/start", body, idempotency_key)

    def create(
        self,
        *,
        template_id: str,
        name: str,
        product_id: str | None = None,
        gpu: Mapping[str, Any] | None = None,
        gpu_num: int | None = None,
        rootfs_size: int | None = None,
        ports: str | None = None,
        envs: Mapping[str, str] | None = None,
        cluster_id: str | None = None,
        webhook_url: str | None = None,
        health_check: Mapping[str, Any] | None = None,
        timeout_seconds: float | None = None,
        auto_stop_after: float | None = None,
        auto_stop_idle: float | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Create an instance from a Novita template (a private image's registry auth comes from it), on
        ``product_id`` or on the first offer with capacity for ``gpu`` (e.g. ``{"type": "RTX 4090",
        "count": 1, "regions": ["cl-us-ca-1"], "maxPricePerHour": 1.5, "billing": "onDemand"}``);
        ``auto_stop_after`` / ``auto_stop_idle`` as for :meth:`start`."""
        spec = {
            "templateId": template_id,
            "productId": product_id,
            "gpu": dict(gpu) if gpu is not None else None,
            "name": name,
            "gpuNum": gpu_num,
            "rootfsSize": rootfs_size,
            "ports": ports,
            "envs": dict(envs) if envs is not None else None,
            "clusterId": cluster_id,
        }
        body = {k: v for k, v in spec.items() if v is not None}
        body.update(_options(webhook_url, health_check, timeout_seconds, auto_stop_after, auto_stop_idle))
        return self._operation("POST", "/instances", body, idempotency_key)

    def stop(
        self,
        ref: str,
        *,
        webhook_url: str | None = None,
        timeout_seconds: float | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Stop an instance (ID or exact name): an operation that ends ``stopped`` once it is exited
        (:class:`Conflict` while another operation drives it)."""
        body = _options(webhook_url, None, timeout_seconds)
        return self._operation("POST", f"/instances/{_segment(ref)}/stop", body, idempotency_key)

    def delete(
        self,
        ref: str,
        *,
        confirm: str,
        webhook_url: str | None = None,
        timeout_seconds: float | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Delete an instance: ``confirm`` repeats its exact name (else :class:`InvalidRequest`); an
        operation that ends ``deleted`` once Novita has removed it."""
        body = _options(webhook_url, None, timeout_seconds)
        path = f"/instances/{_segment(ref)}?{urlencode({'confirm': confirm})}"
        return self._operation("DELETE", path, body, idempotency_key)

    def heartbeat(self, ref: str) -> Lease:
        """The instance's app is in use: an idle lease now runs out ``idle_seconds`` from now.

        Raises :class:`NotFound` with ``code`` ``LEASE_NOT_FOUND`` when the instance has no active lease.
        """
        return Lease.from_json(self._call("POST", f"/instances/{_segment(ref)}/heartbeat"))

    def change_lease(
        self,
        ref: str,
        *,
        after_seconds: float | None = None,
        idle_seconds: float | None = None,
        cancel: bool = False,
    ) -> Lease:
        """Change the instance's active lease: run out ``after_seconds`` from now (extend or shorten),
        a new ``idle_seconds``, or ``cancel`` it (then it stops nothing). What is not given stays.

        Raises :class:`NotFound` with ``code`` ``LEASE_NOT_FOUND`` when the instance has no active lease.
        """
        if cancel and (after_seconds is not None or idle_seconds is not None):
            raise ClientConfigurationError("change_lease: cancel=True takes no after_seconds or idle_seconds")
        body: dict[str, Any] = {"cancel": True} if cancel else {}
        if after_seconds is not None:
            body["afterSeconds"] = after_seconds
        if idle_seconds is not None:
            body["idleSeconds"] = idle_seconds
        if not body:
            raise ClientConfigurationError("change_lease: give after_seconds, idle_seconds or cancel=True")
        return Lease.from_json(self._call("POST", f"/instances/{_segment(ref)}/lease", body))

    def operation(self, operation: OperationRef) -> Operation:
        return Operation.from_json(self._call("GET", f"/operations/{_segment(operation_id_of(operation))}"))

    def cancel(self, operation: OperationRef) -> Cancelled:
        """Stop driving a running operation: it ends ``failed`` with ``CANCELLED``, notified once, and
        its instance is left as it is (stop it next: Novita bills a running instance). An operation
        that had already ended is answered as it is (``cancelled`` False); an unknown one is NotFound."""
        path = f"/operations/{_segment(operation_id_of(operation))}/cancel"
        return Cancelled.from_json(self._call("POST", path))

    def instance(self, ref: str) -> Instance:
        return Instance.from_json(self._call("GET", f"/instances/{_segment(ref)}"))

    def health(self) -> Health:
        return Health.from_json(self._call("GET", "/health"))

    def follow(
        self,
        operation: OperationRef,
        *,
        timeout: float = DEFAULT_WAIT_SECONDS,
        poll_interval: float = 2.0,
        not_found_grace: float = NOT_FOUND_GRACE_SECONDS,
    ) -> Iterator[Operation]:
        """Yield the operation each time its phase or notifications change, ending with its final state.

        Raises :class:`WaitTimeout` when it is still running after ``timeout`` seconds, and
        :class:`NotFound` when the API still does not know it after ``not_found_grace`` seconds.
        """
        operation_id = operation_id_of(operation)
        started = time.monotonic()
        deadline = started + timeout
        seen: tuple[str, str, tuple[str, ...]] | None = None
        while True:
            try:
                current = self.operation(operation_id)
            except NotFound:
                if seen is not None or time.monotonic() - started >= not_found_grace:
                    raise
                self._sleep(min(poll_interval, 0.5))
                continue
            key = (current.status, current.phase, current.notifications)
            if key != seen:
                seen = key
                yield current
            if current.finished:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(current, timeout)
            self._sleep(min(poll_interval, remaining))

    def wait(
        self,
        operation: OperationRef,
        timeout: float = DEFAULT_WAIT_SECONDS,
        *,
        poll_interval: float = 2.0,
        not_found_grace: float = NOT_FOUND_GRACE_SECONDS,
    ) -> Operation:
        """The operation once it is final: returned when it did not fail.

        Raises :class:`OperationFailed` (``.operation.outcome`` says why) when it failed, and
        :class:`WaitTimeout` when it is still running after ``timeout`` seconds (it keeps running).
        """
        *_, final = self.follow(
            operation, timeout=timeout, poll_interval=poll_interval, not_found_grace=not_found_grace
        )
        if final.failed:
            raise OperationFailed(final)
        return final

    # --- HTTP ----------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``body`` None sends none (a GET, a heartbeat); ``idempotency_key`` goes with every request
        that starts an operation (:meth:`_operation`)."""
        url = self.url + path
        headers = {"Accept": "application/json"}
        data = b""
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        attempt = 0
        while True:
            signed = {**headers, **self.auth.headers(method, url, headers, data)}
            try:
                # Never follow a redirect: it would carry the API key (or a signature) to another URL.
                response = self._http.request(
                    method,
                    url,
                    data=data or None,
                    headers=signed,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                raise TransportError(f"{method} {url}: {error}") from error
            if response.is_redirect:
                raise ApiError(
                    response.status_code,
                    "UNEXPECTED_REDIRECT",
                    f"{method} {url} redirects to {response.headers.get('Location')!r}; check the API URL",
                )
            if response.ok:
                try:
                    answer: dict[str, Any] = response.json()
                except ValueError as error:
                    raise TransportError(
                        f"{method} {url}: HTTP {response.status_code} with a body that is not JSON"
                    ) from error
                return answer
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), now=time.time())
            refused = error_from_answer(response.status_code, response.headers, response.text, retry_after)
            wait = self._retry_wait(refused, attempt)
            if wait is None:
                raise refused
            attempt += 1
            self._sleep(wait)

    def _operation(
        self, method: str, path: str, body: Mapping[str, Any], idempotency_key: str | None
    ) -> Accepted:
        """A start, create, stop or delete: one Idempotency-Key for all its tries, so a retry starts no
        second operation."""
        return Accepted.from_json(self._call(method, path, body, idempotency_key or str(uuid.uuid4())))

    def _retry_wait(self, error: ApiError, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up."""
        if error.status not in RETRIED_STATUSES or attempt >= self.retries:
            return None
        wait = error.retry_after_seconds if error.retry_after_seconds is not None else float(2**attempt)
        return wait if wait <= self.max_retry_wait else None


def operation_id_of(operation: OperationRef) -> str:
    if isinstance(operation, str):
        return operation
    operation_id = operation.operation_id
    if not operation_id:
        raise ValueError("this answer names no operation (a stop that is not an operation)")
    return operation_id


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.fromtimestamp(now, UTC)).total_seconds())


def _segment(value: str) -> str:
    """One path segment, percent-encoded (a name may hold spaces or slashes)."""
    if not value:
        raise ValueError("an instance reference or operation ID must not be empty")
    return quote(value, safe="")


def _options(
    webhook_url: str | None,
    health_check: Mapping[str, Any] | None,
    timeout_seconds: float | None,
    auto_stop_after: float | None = None,
    auto_stop_idle: float | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if webhook_url is not None:
        options["webhook"] = {"url": webhook_url}
    if health_check is not None:
        options["healthCheck"] = dict(health_check)
    if timeout_seconds is not None:
        options["timeoutSeconds"] = timeout_seconds
    auto_stop = {"afterSeconds": auto_stop_after, "idleSeconds": auto_stop_idle}
    if any(limit is not None for limit in auto_stop.values()):
        options["autoStop"] = {name: limit for name, limit in auto_stop.items() if limit is not None}
    return options
