"""The simulator's HTTP server, its in-process handle (``Simulator``) and its command line."""

from __future__ import annotations

import argparse
import hmac
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from novita_local.simulator.admin import SimulatorAdmin
from novita_local.simulator.apps import AppListeners
from novita_local.simulator.dialects import DIALECTS, describe, parse_dialects
from novita_local.simulator.errors import JSON, ApiError, error_envelope, invalid
from novita_local.simulator.faults import FaultBook, TokenBucket
from novita_local.simulator.journal import Journal
from novita_local.simulator.state import World, load_seed

API_PREFIX = "/gpu-instance/openapi/v1"
ADMIN_PREFIX = "/__admin"

ApiOperation = Callable[[World, dict[str, str], Any], JSON]

# (method, path relative to API_PREFIX) -> operation on the world.
API_ROUTES: dict[tuple[str, str], ApiOperation] = {
    ("GET", "/gpu/instances"): lambda w, q, b: w.list_instances(q),
    ("GET", "/gpu/instance"): lambda w, q, b: w.get_instance(q),
    ("POST", "/gpu/instance/start"): lambda w, q, b: w.start_instance(b),
    ("POST", "/gpu/instance/stop"): lambda w, q, b: w.stop_instance(b),
    ("POST", "/gpu/instance/delete"): lambda w, q, b: w.delete_instance(b),
    ("POST", "/gpu/instance/create"): lambda w, q, b: w.create_instance(b),
    ("GET", "/templates"): lambda w, q, b: w.list_templates(q),
    ("GET", "/template"): lambda w, q, b: w.get_template(q),
    ("GET", "/repository/auths"): lambda w, q, b: w.list_registry_auths(q),
    ("GET", "/products"): lambda w, q, b: w.list_products(q),
    ("GET", "/clusters"): lambda w, q, b: w.list_clusters(q),
}

_INVALID_JSON = object()


class SimulatorCore:
    """Everything one simulator holds; the HTTP handler only translates to and from it."""

    def __init__(
        self, api_key: str | None, time_scale: float, seed: JSON, dialects: frozenset[str] = frozenset()
    ) -> None:
        self.api_key = api_key
        self.initial_time_scale = time_scale
        self.initial_seed = seed
        self.initial_dialects = dialects
        self.faults = FaultBook()
        self.bucket = TokenBucket()
        self.journal = Journal()
        self.apps = AppListeners()
        self.world = World(seed, time_scale, self.faults, self.apps, dialects)

    def authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return self.api_key is None or hmac.compare_digest(token.encode(), self.api_key.encode())

    def reset(self, seed: Any) -> None:
        # Build the new world first so an invalid seed leaves the current state untouched.
        complete = load_seed(seed if seed is not None else self.initial_seed)
        self.world = World(complete, self.initial_time_scale, self.faults, self.apps, self.initial_dialects)
        self.apps.close_all()
        self.faults.clear()
        self.journal.clear()
        self.bucket.configure(None)

    def shutdown(self) -> None:
        self.apps.close_all()

    # ----------------------------------------------------------------- admin API

    def admin(self, method: str, path: str, query: dict[str, str], body: Any) -> JSON:
        route = (method, path)
        if route == ("POST", "/reset"):
            self.reset(body)
            return {"instances": len(self.world.instances)}
        if route == ("GET", "/state"):
            state = self.world.dump()
            state["faults"] = self.faults.describe()
            state["rateLimit"] = self.bucket.describe()
            return state
        if route == ("POST", "/instances"):
            entries = body.get("instances") if isinstance(body, dict) else None
            return {"ids": self.world.add_seed_instances(entries)}
        if route == ("GET", "/faults"):
            return {"faults": self.faults.describe()}
        if route == ("POST", "/faults"):
            return {"id": self.faults.add(body)}
        if route == ("DELETE", "/faults"):
            self.faults.clear()
            return {}
        if route == ("PUT", "/rate-limit"):
            return self._set_rate_limit(body)
        if route == ("GET", "/config"):
            return self.world.config()
        if route == ("PUT", "/config"):
            return self.world.set_config(body)
        if route == ("PUT", "/stock"):
            return self.world.set_stock(body)
        if route == ("GET", "/dialects"):
            return self._dialects()
        if route == ("PUT", "/dialects"):
            names = body.get("dialects") if isinstance(body, dict) else None
            if names is None:
                raise invalid("dialects", 'is required: a list of names, e.g. {"dialects": ["zero-pages"]}')
            self.world.dialects = parse_dialects(names)
            return self._dialects()
        if route == ("POST", "/clock/advance"):
            seconds = body.get("seconds") if isinstance(body, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise invalid("seconds", "must be a number >= 0")
            return {"simTime": self.world.clock.advance(float(seconds))}
        if route == ("GET", "/journal"):
            return {"requests": self.journal.entries(query.get("path"), query.get("method"))}
        if route == ("DELETE", "/journal"):
            self.journal.clear()
            return {}
        raise ApiError(404, "NOT_FOUND", f"no admin route {method} {ADMIN_PREFIX}{path}")

    def _dialects(self) -> JSON:
        return {
            "dialects": describe(self.world.dialects),
            "known": {name: answers[0] for name, answers in DIALECTS.items()},
        }

    def _set_rate_limit(self, body: Any) -> JSON:
        if not isinstance(body, dict) or "perSecond" not in body:
            raise invalid("perSecond", "is required (a number > 0, or null to disable)")
        per_second, burst = body.get("perSecond"), body.get("burst")
        for name, value in (("perSecond", per_second), ("burst", burst)):
            bad_type = isinstance(value, bool) or not isinstance(value, int | float)
            if value is not None and (bad_type or value <= 0):
                raise invalid(name, "must be a number > 0 or null")
        self.bucket.configure(
            None if per_second is None else float(per_second), None if burst is None else float(burst)
        )
        return self.bucket.describe()


class _SimServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], core: SimulatorCore) -> None:
        self.core = core
        super().__init__(address, _Handler)


@dataclass(frozen=True)
class _Answer:
    status: int | None
    payload: JSON
    headers: dict[str, str]
    fault: str | None
    sent: bool = True


class _Handler(BaseHTTPRequestHandler):
    server: _SimServer
    protocol_version = "HTTP/1.1"  # keep-alive, as pooled clients expect
    timeout = 120  # idle keep-alive connections do not hold a thread forever
    disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stalls

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        body = _parse_json(raw)
        if url.path == ADMIN_PREFIX or url.path.startswith(ADMIN_PREFIX + "/"):
            self._admin(method, url.path[len(ADMIN_PREFIX) :], query, body)
        elif url.path.startswith(API_PREFIX + "/"):
            self._api(method, url.path[len(API_PREFIX) :], query, body)
        else:
            self._send(404, error_envelope(404, "NOT_FOUND", f"no route {url.path}"))

    def _admin(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        core = self.server.core
        try:
            if body is _INVALID_JSON:
                raise invalid("body", "is not valid JSON")
            self._send(200, core.admin(method, path, query, body))
        except ApiError as error:
            self._send(error.status, error.envelope())

    def _api(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        core = self.server.core
        world = core.world
        epoch = core.journal.epoch
        authorized = core.authorized(self.headers.get("Authorization"))
        answer = self._answer_api(core, world, method, path, query, body, authorized)
        # Journal first, answer second: a caller that has its answer finds the request recorded.
        core.journal.record(
            time=time.time(),
            sim_time=world.clock.now(),
            method=method,
            path=path,
            query=query,
            body=None if body is _INVALID_JSON else body,
            status=answer.status,
            authorized=authorized,
            fault=answer.fault,
            epoch=epoch,
        )
        if answer.sent and answer.status is not None:
            self._send(answer.status, answer.payload, answer.headers)
        else:
            self.close_connection = True

    def _answer_api(
        self,
        core: SimulatorCore,
        world: World,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        authorized: bool,
    ) -> _Answer:
        """Work out the answer to one API request (status None: dropped before processing)."""
        bare = "bare-errors" in world.dialects
        retry_after = core.bucket.take()
        if retry_after is not None:
            envelope = error_envelope(
                429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded, retry later", bare=bare
            )
            return _Answer(429, envelope, {"Retry-After": str(retry_after)}, "rate_limit")
        faults = core.faults.take_request_faults(method, path)
        if faults.delay_seconds:
            time.sleep(faults.delay_seconds)
        action = faults.action
        kind = action.kind if action else ("delay" if faults.delay_seconds else None)
        if action is not None and action.kind == "drop" and action.params["when"] == "before":
            return _Answer(None, {}, {}, kind, sent=False)
        if action is not None and action.kind == "error":
            p = action.params
            envelope = error_envelope(p["status"], p["reason"], p["message"], bare=bare)
            return _Answer(p["status"], envelope, {}, kind)
        if action is not None and action.kind == "rate_limit":
            retry = action.params["retryAfter"]
            headers = {"Retry-After": retry} if retry is not None else {}
            envelope = error_envelope(429, "RATE_LIMIT_EXCEEDED", "rate limit exceeded", bare=bare)
            return _Answer(429, envelope, headers, kind)

        status, payload = self._run_api(world, method, path, query, body, authorized)
        # A "drop after" fault: processed, but the caller never learns the outcome (the lost response).
        dropped = action is not None and action.kind == "drop"
        return _Answer(status, payload, {}, kind, sent=not dropped)

    def _run_api(
        self, world: World, method: str, path: str, query: dict[str, str], body: Any, authorized: bool
    ) -> tuple[int, JSON]:
        try:
            if not authorized:
                raise ApiError(401, "UNAUTHORIZED", "missing or invalid API key")
            operation = API_ROUTES.get((method, path))
            if operation is None:
                if any(p == path for _, p in API_ROUTES):
                    raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}")
                raise ApiError(404, "NOT_FOUND", f"no API route {path}")
            if body is _INVALID_JSON:
                raise invalid("body", "is not valid JSON")
            return 200, operation(world, query, body)
        except ApiError as error:
            return error.status, error.envelope(bare="bare-errors" in world.dialects)

    def _send(self, status: int, payload: JSON, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The caller gave up (e.g. its read timeout passed): the request still goes in the journal.
            self.close_connection = True


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


class Simulator:
    """An in-process simulator: ``Simulator(api_key="k").start()`` serves on a free loopback port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        time_scale: float = 1.0,
        seed: JSON | str | Path | None = None,
        dialects: str | Iterable[str] = (),
    ) -> None:
        self.host = host
        self.api_key = api_key
        self._requested_port = port
        self._core = SimulatorCore(api_key, time_scale, load_seed(seed), parse_dialects(dialects))
        self._server: _SimServer | None = None
        self._thread: threading.Thread | None = None
        self._admin: SimulatorAdmin | None = None

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._server = _SimServer((self.host, self._requested_port), self._core)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="novita-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._core.shutdown()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        bound: int = self._server.server_address[1]
        return bound

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def admin(self) -> SimulatorAdmin:
        if self._admin is None:
            self._admin = SimulatorAdmin(self.url)
        return self._admin


# --------------------------------------------------------------------------- command line


def add_simulator_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulator",
        help="run the Novita API simulator in the foreground",
        description="Serve a simulated Novita v1 GPU-instance API (and its /__admin API) until Ctrl-C.",
        epilog="environment: none\n\nexit status: 0 after Ctrl-C, 2 bad input\n\n"
        "example:\n  novita-orchestrator simulator --port 8080 --time-scale 10 --dialect all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any free port)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--seed", type=Path, metavar="FILE", help="JSON seed file (default: built-in seed)")
    parser.add_argument("--api-key", help="the only API key accepted (default: any non-empty key)")
    parser.add_argument(
        "--dialect",
        default="",
        metavar="NAMES",
        help="answer the other plausible way where Novita's docs are silent: comma-separated, any of "
        + ", ".join(DIALECTS)
        + ", or all (default: none)",
    )
    parser.set_defaults(handler=run_simulator)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_simulator(args: argparse.Namespace) -> int:
    if args.time_scale < 0:
        print("novita-orchestrator simulator: --time-scale must be >= 0", file=sys.stderr)
        return 2
    try:
        dialects = parse_dialects(args.dialect)
    except ApiError as error:
        print(f"novita-orchestrator simulator: --dialect: {error.message}", file=sys.stderr)
        return 2
    try:
        simulator = Simulator(
            args.host, args.port, args.api_key, args.time_scale, args.seed, dialects=dialects
        ).start()
    except (OSError, ValueError, ApiError) as error:
        print(f"novita-orchestrator simulator: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(f"Novita simulator serving {simulator.base_url}", flush=True)
    print(f"admin API at {simulator.url}{ADMIN_PREFIX} (Ctrl-C to stop)", flush=True)
    if dialects:
        print(f"dialects: {', '.join(describe(dialects))}", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0
