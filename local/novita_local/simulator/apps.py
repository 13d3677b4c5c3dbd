"""The loopback "applications" behind a running instance's port mappings.

Each ``(instance, port)`` gets one listener on 127.0.0.1, opened the first time a running
instance's port mappings are shown and closed when the instance stops or the simulator resets:
``http`` ports get a tiny HTTP app (503 until healthy, then 200 ``{"status":"ok"}`` on any path),
``tcp`` ports a listener that accepts connections and closes them at once.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HealthCheck = Callable[[], bool]
_POLL_SECONDS = 0.05  # how quickly a listener notices it is being shut down


class _AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, is_healthy: HealthCheck) -> None:
        self.is_healthy = is_healthy
        super().__init__(("127.0.0.1", 0), _AppHandler)


class _AppHandler(BaseHTTPRequestHandler):
    server: _AppServer
    disable_nagle_algorithm = True

    def _answer(self, with_body: bool) -> None:
        healthy = self.server.is_healthy()
        status = 200 if healthy else 503
        body = json.dumps({"status": "ok" if healthy else "starting"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_POST(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _CloseAtOnce(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        pass  # the server closes the connection when handle returns


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CloseAtOnce)


class AppListeners:
    """Listeners keyed by ``(instance_id, container_port)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[tuple[str, int], socketserver.TCPServer] = {}

    def ensure(self, instance_id: str, port: int, kind: str, is_healthy: HealthCheck) -> int:
        """The loopback port serving this mapping, opening the listener if needed."""
        with self._lock:
            server = self._servers.get((instance_id, port))
            if server is None:
                server = _AppServer(is_healthy) if kind == "http" else _TcpServer()
                threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": _POLL_SECONDS},
                    name=f"sim-app-{instance_id}-{port}",
                    daemon=True,
                ).start()
                self._servers[(instance_id, port)] = server
            bound: int = server.server_address[1]
            return bound

    def open_ports(self, instance_id: str) -> dict[int, int]:
        """Container port -> loopback port, for the listeners already open for an instance."""
        with self._lock:
            return {
                port: server.server_address[1]
                for (iid, port), server in self._servers.items()
                if iid == instance_id
            }

    def close_instance(self, instance_id: str) -> None:
        with self._lock:
            keys = [key for key in self._servers if key[0] == instance_id]
            servers = [self._servers.pop(key) for key in keys]
        _shut_down(servers)

    def close_all(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        _shut_down(servers)


def _shut_down(servers: list[socketserver.TCPServer]) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()
