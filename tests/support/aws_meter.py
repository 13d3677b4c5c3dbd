"""Count what a local run would be billed for: every AWS call the service makes (by service and
operation, with DynamoDB's request units estimated from the bytes each call moved), every Novita
request, and every Lambda handler's time.

A meter is installed for a block (``with AwsMeter() as meter:``) and counts calls made by the
service's threads: the local engine's functions and state machine, and ``serve``'s request threads.
The test's own thread (harness reads such as ``describe_execution``) is not counted. Calls are also
kept by thread name, so the API's request threads (``process_request_thread``) can be told apart.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: DynamoDB operations that read and those that write (what on-demand bills as RRU / WRU).
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
API_THREAD = "process_request_thread"


@dataclass
class Meter:
    """What the service's threads called while the meter was installed."""

    #: ``(service, operation)`` -> calls, for the service's threads.
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: The same for the API's request threads alone.
    api_calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    #: Novita requests (method path) made by the API's request threads.
    api_novita: Counter[str] = field(default_factory=Counter)
    #: Function logical ID -> handler seconds, one entry per invocation.
    handler_seconds: dict[str, list[float]] = field(default_factory=dict)
    #: Function logical ID -> [read units, write units] its invocations used.
    units_by_function: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: threading.local = field(default_factory=threading.local)

    def count(self, service: str, operation: str, params: Any, response: Any, consistent: bool) -> None:
        in_api = API_THREAD in threading.current_thread().name
        function = getattr(self._running, "function", None)
        with self._lock:
            self.calls[(service, operation)] += 1
            if in_api:
                self.api_calls[(service, operation)] += 1
            if service != "dynamodb":
                return
            units = self.units_by_function.setdefault(function or "-", [0.0, 0.0])
            if operation in DYNAMODB_READS:
                read = math.ceil(max(1, _size(response)) / 4096) * (1.0 if consistent else 0.5)
                self.read_units += read
                units[0] += read
            elif operation in DYNAMODB_WRITES:
                write = math.ceil(max(1, _size(params)) / 1024)
                self.write_units += write
                units[1] += write

    def count_novita(self, method: str, url: str) -> None:
        if API_THREAD in threading.current_thread().name:
            path = url.split("/openapi/v1", 1)[-1].split("?", 1)[0]
            with self._lock:
                self.api_novita[f"{method} {path}"] += 1

    def handled(self, logical_id: str, seconds: float) -> None:
        with self._lock:
            self.handler_seconds.setdefault(logical_id, []).append(seconds)

    def of_service(self, service: str) -> int:
        return sum(n for (name, _), n in self.calls.items() if name == service)


@contextmanager
def metering() -> Iterator[Meter]:
    """Count the service's AWS calls, the API's Novita requests and every handler's time."""
    import requests
    from botocore.client import BaseClient

    from novita_local.engine.lambda_patch import InProcessFunction

    meter = Meter()
    harness = threading.main_thread()
    make_api_call = BaseClient._make_api_call
    request = requests.Session.request
    handler_of = InProcessFunction.handler

    def metered_call(client: Any, operation: str, params: Any) -> Any:
        response = make_api_call(client, operation, params)
        if threading.current_thread() is not harness:
            service = client.meta.service_model.service_name
            meter.count(service, operation, params, response, bool(params.get("ConsistentRead")))
        return response

    def metered_request(session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if "/gpu-instance/openapi/v1" in url:
            meter.count_novita(method, url)
        return request(session, method, url, *args, **kwargs)

    def timed_handler(function: Any) -> Any:
        handler = handler_of(function)
        logical_id = function.spec.logical_id

        def run(event: Any, context: Any) -> Any:
            began = time.monotonic()
            meter._running.function = logical_id
            try:
                return handler(event, context)
            finally:
                meter._running.function = None
                meter.handled(logical_id, time.monotonic() - began)

        return run

    # Typed as Any: monkey patches of botocore, requests and the local engine, undone on exit.
    patches: list[tuple[Any, str, Any, Any]] = [
        (BaseClient, "_make_api_call", make_api_call, metered_call),
        (requests.Session, "request", request, metered_request),
        (InProcessFunction, "handler", handler_of, timed_handler),
    ]
    for owner, name, _, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield meter
    finally:
        for owner, name, original, _ in patches:
            setattr(owner, name, original)


def _size(value: Any) -> int:
    """Bytes of a request's or response's attribute values, as DynamoDB sizes items (roughly: names
    and values as UTF-8; the JSON punctuation left out)."""
    if isinstance(value, dict):
        return sum(len(str(k).encode()) + _size(v) for k, v in value.items() if k != "ResponseMetadata")
    if isinstance(value, list | tuple):
        return sum(_size(v) for v in value)
    if isinstance(value, bytes):
        return len(value)
    return len(str(value).encode())
