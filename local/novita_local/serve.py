"""``novita-orchestrator serve``: the REST API on loopback, on the embedded engine.

Each HTTP request becomes an API Gateway REST proxy event (payload format 1.0, with a
``requestContext`` and its ``identity``) for the template's ``ApiFunction`` (invoked through the
engine's Lambda, so it runs with its own template environment), and its proxy response goes back
as the HTTP response. ``StartExecution`` reaches the engine's Step Functions, which runs the real
state machine; a background pump plays Lambda's SQS poller for the webhook dispatcher, so webhooks
are delivered as on AWS. With ``--api-key`` a request without that ``x-api-key`` is refused with
403 as API Gateway does (the ``ApiAuth=API_KEY`` option); without it no auth is checked (loopback).

Webhooks are signed with WEBHOOK_SIGNING_SECRET, or with a secret ``serve`` makes and prints, so a
receiver can verify them. The embedded stack lives in this process, so its dead-letter queue is
reached through serve itself: ``GET /_local/dlq`` and ``POST /_local/dlq/redrive`` (what
``novita-orchestrator dlq list|redrive --api URL`` calls); like the simulator's admin prefix, these
routes exist only locally, never on API Gateway.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ipaddress
import json
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from novita_local.engine import LocalEngine
from novita_local.operations import local_engine
from novita_local.runtime import (
    ENGINE_VARIABLES_HELP,
    EXIT_BAD_INPUT,
    EXIT_OK,
    BadInput,
    engine_environment,
    fail,
    handler_output_on_stderr,
    novita_banner,
)
from novita_local.webhooks import engine_dead_letters, new_signing_secret

API_FUNCTION = "ApiFunction"
DISPATCHER_FUNCTION = "WebhookDispatcherFunction"
STAGE = "local"
#: serve's own routes (the embedded stack's dead-letter queue); API Gateway has no such prefix.
LOCAL_PREFIX = "/_local"
_MAX_READ_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit; the function enforces ours
# serve's own route, not the deployed API's (`novita-orchestrator cancel OP` calls it).


def proxy_event(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
    host: str,
    api_key: str | None,
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy event API Gateway would send for this request."""
    parts = urlsplit(target)
    # API Gateway hands the function the decoded path.
    path = unquote(parts.path) or "/"
    query = parse_qs(parts.query, keep_blank_values=True)
    try:
        text: str | None = body.decode("utf-8") if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "body": text,
        "isBase64Encoded": encoded,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "resourcePath": path,
            "httpMethod": method,
            "path": path,
            "stage": STAGE,
            "domainName": host,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent") or headers.get("user-agent"),
                "apiKey": api_key,
                "apiKeyId": "local-api-key" if api_key else None,
                "caller": None,
                "user": None,
                "userArn": None if api_key else "arn:aws:iam::123456789012:user/local",
                "accessKey": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
            },
        },
    }


def request_body(headers: Message, stream: BufferedIOBase) -> bytes:
    """The request's body: ``Content-Length`` bytes, or the chunks of a ``Transfer-Encoding: chunked``
    body (curl -T -, HTTP clients streaming a body) joined; ValueError when the framing is broken."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return _read_chunks(stream)
    length = int(headers.get("Content-Length") or 0)
    return stream.read(min(length, _MAX_READ_BYTES)) if length > 0 else b""


def _read_chunks(stream: BufferedIOBase) -> bytes:
    body = bytearray()
    while True:
        size_line = stream.readline(1024).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ValueError("a chunk size is not hexadecimal") from None
        if size == 0:
            break
        if len(body) + size > _MAX_READ_BYTES:
            raise ValueError(f"the body is larger than {_MAX_READ_BYTES} bytes")
        chunk = stream.read(size)
        if len(chunk) != size or stream.readline(1024).strip():
            raise ValueError("a chunk is shorter than its size")
        body += chunk
    while stream.readline(1024).strip():  # trailer fields, up to the blank line
        pass
    return bytes(body)


class ApiServer:
    """Serve the template's ApiFunction over HTTP on ``host:port`` (0 = a free port)."""

    def __init__(
        self,
        engine: LocalEngine,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        deliver_webhooks: bool = True,
        pump_interval: float = 0.5,
        time_scale: float = 1.0,
    ) -> None:
        self._engine = engine
        self._time_scale = time_scale
        self._api_key = api_key
        self._function_name = engine.resource_name(API_FUNCTION)
        # One client for the server's life: creating boto3 clients is not free and reads os.environ.
        self._lambda = engine.boto_client("lambda")
        # One API request at a time, as one Lambda container takes one event at a time (the resolver
        # keeps the current event on itself).
        self._invoke_lock = threading.Lock()
        self._deliver_webhooks = deliver_webhooks
        self._pump_interval = pump_interval
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._httpd = _ApiHttpServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        serving = threading.Thread(target=self._httpd.serve_forever, name="api-server", daemon=True)
        serving.start()
        self._threads.append(serving)
        if self._deliver_webhooks:
            pump = threading.Thread(target=self._pump_webhooks, name="webhook-pump", daemon=True)
            pump.start()
            self._threads.append(pump)

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def serve_until_interrupted(self) -> None:
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._invoke_lock:
            answer = self._lambda.invoke(FunctionName=self._function_name, Payload=json.dumps(event).encode())
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError") or not isinstance(payload, dict):
            # The function crashed outside its own error handling: API Gateway answers 502 then.
            return {"statusCode": 502, "body": json.dumps({"message": "Internal server error"})}
        return payload

    def local_route(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        """serve's own routes: the embedded stack's webhook dead-letter queue."""
        routes = {f"{LOCAL_PREFIX}/dlq": "GET", f"{LOCAL_PREFIX}/dlq/redrive": "POST"}
        if path not in routes:
            return 404, {"error": {"code": "ROUTE_NOT_FOUND", "message": "no such route"}}
        if method != routes[path]:
            return 405, {"error": {"code": "METHOD_NOT_ALLOWED", "message": f"use {routes[path]}"}}
        dead_letters = engine_dead_letters(self._engine)
        if path.endswith("/redrive"):
            return 200, asdict(dead_letters.redrive())
        return 200, {"deadLetters": [asdict(letter) for letter in dead_letters.peek()]}

    def _pump_webhooks(self) -> None:
        while not self._stopping.wait(self._pump_interval):
            with contextlib.suppress(Exception):  # a failed batch stays queued and is retried
                self._engine.deliver_queue_messages(DISPATCHER_FUNCTION)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                if self.path.split("?", 1)[0].startswith(LOCAL_PREFIX + "/"):
                    self._local_route()
                    return
                try:
                    body = request_body(self.headers, self.rfile)
                except ValueError as error:
                    self.close_connection = True
                    message = json.dumps({"message": f"malformed request body: {error}"}).encode()
                    self._answer(400, {"Content-Type": "application/json"}, message)
                    return
                # API Gateway hands the function the whole body, never the framing.
                headers = {
                    name: value for name, value in self.headers.items() if name.lower() != "transfer-encoding"
                }
                if server._api_key is not None and headers.get("x-api-key", headers.get("X-Api-Key")) != (
                    server._api_key
                ):
                    self._answer(403, {"Content-Type": "application/json"}, b'{"message":"Forbidden"}')
                    return
                headers.setdefault("X-Forwarded-Proto", "http")
                event = proxy_event(
                    method=self.command,
                    target=self.path,
                    headers=headers,
                    body=body,
                    source_ip=self.client_address[0],
                    host=headers.get("Host", "127.0.0.1"),
                    api_key=server._api_key,
                )
                response = server.invoke(event)
                payload = response.get("body") or ""
                raw = (
                    base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode("utf-8")
                )
                out: dict[str, str] = {}
                for name, values in (response.get("multiValueHeaders") or {}).items():
                    out[name] = ", ".join(str(v) for v in values)
                out.update({name: str(value) for name, value in (response.get("headers") or {}).items()})
                self._answer(int(response.get("statusCode", 502)), out, raw)

            def _local_route(self) -> None:
                # No body is read: these routes take none (a client's body is drained by the length).
                length = int(self.headers.get("Content-Length") or 0)
                if length > 0:
                    self.rfile.read(min(length, _MAX_READ_BYTES))
                if server._api_key is not None and self.headers.get("x-api-key") != server._api_key:
                    self._answer(403, {"Content-Type": "application/json"}, b'{"message":"Forbidden"}')
                    return
                status, answer = server.local_route(self.command, self.path.split("?", 1)[0])
                self._answer(status, {"Content-Type": "application/json"}, json.dumps(answer).encode())

            def _answer(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in {"content-length", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: object) -> None:
                print(f"{self.address_string()} {format % args}", file=sys.stderr)

        return Handler


# --- command ---------------------------------------------------------------------------------------


class _ApiHttpServer(ThreadingHTTPServer):
    # Many clients may connect at once (load runs): the default backlog of 5 would reset some.
    request_queue_size = 128
    daemon_threads = True


def add_serve_command(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the REST API on loopback (the embedded stack; try it with curl)",
        description="Serve the service's REST API on loopback, on the embedded stack, against the Novita"
        " API named by NOVITA_BASE_URL with NOVITA_API_KEY (e.g. `novita-orchestrator simulator`).",
        epilog=ENGINE_VARIABLES_HELP
        + "\nexit status: 0 after Ctrl-C, 2 bad input (a setting, or the port cannot be bound)\n\n"
        "example:\n"
        "  export NOVITA_BASE_URL=http://127.0.0.1:8080/gpu-instance/openapi/v1 NOVITA_API_KEY=any \\\n"
        "         TIME_SCALE=10 ALLOW_PRIVATE_NETWORK_TARGETS=true\n"
        "  novita-orchestrator serve --port 3000\n"
        "  curl -X POST localhost:3000/instances/dev-box/start -H 'Content-Type: application/json' -d '{}'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--port", type=int, default=3000, help="port to listen on (default 3000; 0 = any free)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--api-key", metavar="KEY", help="require this x-api-key header (as API Gateway would)"
    )
    serve.add_argument("--verbose", action="store_true", help="show the functions' logs on stderr")
    serve.set_defaults(handler=run_serve)


def exposure_warning(host: str, *, api_key: str | None) -> str | None:
    """A warning when ``--host`` is reachable from other machines (0.0.0.0, a LAN address)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False  # a host name: it may well resolve to a public interface
    if loopback:
        return None
    return (
        f"warning: --host {host} serves this local stack to other machines"
        + ("" if api_key else ", with no authentication (pass --api-key)")
        + "; it is meant for loopback"
    )


def run_serve(args: argparse.Namespace) -> int:
    try:
        shell = engine_environment()
    except BadInput as error:
        return fail(str(error))
    variables = dict(shell.variables)
    made_secret = None
    if not variables.get("WEBHOOK_SIGNING_SECRET"):
        # The template's generated Secrets Manager value is no whsec_ a receiver could be given.
        made_secret = variables["WEBHOOK_SIGNING_SECRET"] = new_signing_secret()
    with (
        handler_output_on_stderr(verbose=args.verbose),
        local_engine(variables, time_scale=shell.time_scale) as engine,
    ):
        try:
            server = ApiServer(
                engine, host=args.host, port=args.port, api_key=args.api_key, time_scale=shell.time_scale
            )
        except OSError as error:
            return fail(f"cannot listen on {args.host}:{args.port}: {error}", EXIT_BAD_INPUT)
        # The first line on stderr says where (tests and scripts wait for it).
        print(f"serving the API on {server.url} (Swagger UI: {server.url}/docs)", file=sys.stderr, flush=True)
        print(signing_line(made_secret), file=sys.stderr, flush=True)
        print(novita_banner(shell.variables), file=sys.stderr, flush=True)
        warning = exposure_warning(args.host, api_key=args.api_key)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        server.serve_until_interrupted()
    return EXIT_OK


def signing_line(made_secret: str | None) -> str:
    """What serve says about the webhook signing secret (the one it made, never one it was given)."""
    if made_secret is None:
        return "webhooks are signed with WEBHOOK_SIGNING_SECRET"
    return (
        f"webhooks are signed with {made_secret} (a secret made for this run:"
        " give it to your receiver, or set WEBHOOK_SIGNING_SECRET to choose one)"
    )
