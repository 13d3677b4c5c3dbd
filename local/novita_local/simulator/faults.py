"""Fault injection and the global rate limit of the simulator.

A fault is registered through the admin API and consumed by the requests (or instance operations)
it matches. Request faults (``error``, ``rate_limit``, ``delay``, ``drop``) act on API requests whose
method and path match; instance faults (``status_error``, ``never_healthy``) act on one instance.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from novita_local.simulator.errors import JSON, invalid

REQUEST_KINDS = ("error", "rate_limit", "delay", "drop")
INSTANCE_KINDS = ("status_error", "never_healthy")
FAULT_KINDS = REQUEST_KINDS + INSTANCE_KINDS

# The Novita error name a caller most likely means for an injected status.
DEFAULT_REASONS = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 429: "RATE_LIMIT_EXCEEDED"}


@dataclass
class Fault:
    id: str
    kind: str
    method: str | None
    path: str | None
    remaining: int | None  # None = unlimited
    params: JSON = field(default_factory=dict)

    def matches_request(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path == path)

    def matches_instance(self, instance_id: str, name: str) -> bool:
        wanted_id, wanted_name = self.params.get("instanceId"), self.params.get("instanceName")
        if wanted_id is None and wanted_name is None:
            return True
        return wanted_id == instance_id or (wanted_name is not None and wanted_name == name)

    def describe(self) -> JSON:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "count": self.remaining,
            **self.params,
        }


@dataclass(frozen=True)
class RequestFaults:
    """What the matching faults do to one request: a delay first, then at most one action."""

    delay_seconds: float = 0.0
    action: Fault | None = None


def _optional_str(spec: JSON, key: str) -> str | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid(key, "must be a non-empty string")
    return value


def _number(spec: JSON, key: str, default: float | None = None) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise invalid(key, "must be a number >= 0")
    return float(value)


def _params(kind: str, spec: JSON) -> JSON:
    if kind == "error":
        status = spec.get("status", 503)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise invalid("status", "must be an HTTP error status (400-599)")
        reason = spec.get("reason") or DEFAULT_REASONS.get(status, "UNKNOWN")
        message = spec.get("message") or f"injected {status} {reason}"
        if not isinstance(reason, str) or not isinstance(message, str):
            raise invalid("reason", "reason and message must be strings")
        return {"status": status, "reason": reason, "message": message}
    if kind == "rate_limit":
        retry_after = spec.get("retryAfter", "1")
        if retry_after is not None and not isinstance(retry_after, str | int):
            raise invalid("retryAfter", "must be a string (seconds or HTTP date), an integer or null")
        return {"retryAfter": None if retry_after is None else str(retry_after)}
    if kind == "delay":
        return {"seconds": _number(spec, "seconds")}
    if kind == "drop":
        when = spec.get("when", "before")
        if when not in ("before", "after"):
            raise invalid("when", "must be 'before' or 'after'")
        return {"when": when}
    if kind == "status_error":
        message = spec.get("message") or "simulated failure"
        if not isinstance(message, str):
            raise invalid("message", "must be a string")
        params: JSON = {"message": message}
        for key in ("instanceId", "instanceName"):
            value = _optional_str(spec, key)
            if value is not None:
                params[key] = value
        return params
    # never_healthy
    instance_id = _optional_str(spec, "instanceId")
    if instance_id is None:
        raise invalid("instanceId", "is required for never_healthy")
    return {"instanceId": instance_id}


class FaultBook:
    """The registered faults, consumed under a lock so concurrent requests take one use each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: Any) -> str:
        if not isinstance(spec, dict):
            raise invalid("body", "a fault must be a JSON object")
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise invalid("kind", f"must be one of {', '.join(FAULT_KINDS)}")
        method = _optional_str(spec, "method")
        path = _optional_str(spec, "path")
        if path is not None and not path.startswith("/"):
            raise invalid("path", "must start with '/' (relative to the API base)")
        count = spec.get("count", 1)
        if kind == "never_healthy":
            count = None
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise invalid("count", "must be an integer >= 1 or null (unlimited)")
        params = _params(kind, spec)
        with self._lock:
            fault = Fault(
                id=f"fault-{next(self._ids)}",
                kind=kind,
                method=method.upper() if method else None,
                path=path,
                remaining=count,
                params=params,
            )
            self._faults.append(fault)
        return fault.id

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[JSON]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def _consume(self, fault: Fault) -> None:
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)

    def take_request_faults(self, method: str, path: str) -> RequestFaults:
        """Consume every matching delay and the first matching error / rate_limit / drop."""
        delay = 0.0
        action: Fault | None = None
        with self._lock:
            for fault in list(self._faults):
                if fault.kind not in REQUEST_KINDS or not fault.matches_request(method, path):
                    continue
                if fault.kind == "delay":
                    delay += float(fault.params["seconds"])
                    self._consume(fault)
                elif action is None:
                    action = fault
                    self._consume(fault)
        return RequestFaults(delay_seconds=delay, action=action)

    def take_status_error(self, instance_id: str, name: str) -> str | None:
        """The failure message for this start/create, if a ``status_error`` fault targets it."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == "status_error" and fault.matches_instance(instance_id, name):
                    self._consume(fault)
                    return str(fault.params["message"])
        return None

    def never_healthy(self, instance_id: str) -> bool:
        with self._lock:
            return any(
                f.kind == "never_healthy" and f.params["instanceId"] == instance_id for f in self._faults
            )


class TokenBucket:
    """A global token bucket over API requests, in real (not simulated) seconds."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._burst = 0.0
        self._tokens = 0.0
        self._stamp = now()

    def configure(self, per_second: float | None, burst: float | None = None) -> None:
        with self._lock:
            self._rate = per_second
            self._burst = max(1.0, burst if burst is not None else (per_second or 1.0))
            self._tokens = self._burst
            self._stamp = self._now()

    def describe(self) -> JSON:
        with self._lock:
            return {"perSecond": self._rate, "burst": self._burst if self._rate is not None else None}

    def take(self) -> int | None:
        """None when the request may pass, else the seconds to announce in ``Retry-After``."""
        with self._lock:
            if self._rate is None:
                return None
            now = self._now()
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            if self._rate <= 0:
                return 60
            return max(1, math.ceil((1.0 - self._tokens) / self._rate))
