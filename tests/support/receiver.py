"""A scriptable webhook receiver on loopback: answers per path in order, records every request.

    with Receiver() as receiver:
        receiver.script("/hook", 503, 503, 200)              # then the default (200) forever
        receiver.script("/slow", Answer(429, {"Retry-After": "120"}))
        url = receiver.url("/hook")
        ...
        receiver.requests("/hook")  # [ReceivedRequest(path, headers, body, ...)]

``stop()`` closes the port (a receiver that is down); ``start()`` again serves on the same port.
``delay_seconds`` makes each answer take that long (the server is threaded, so requests overlap).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Receiver:
    def __init__(self, *, delay_seconds: float = 0.0, default: Answer | int = 200) -> None:
        self.delay_seconds = delay_seconds
        self.default = _answer(default)
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._received: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                answer = receiver._next_answer(self.path)
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                receiver._record(
                    ReceivedRequest(
                        method="POST",
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        answered=answer.status,
                        at=time.time(),
                    )
                )
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- scripting and inspection --------------------------------------------------------------

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer | int) -> None:
        with self._lock:
            self._scripts[path].extend(_answer(a) for a in answers)

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def _next_answer(self, path: str) -> Answer:
        with self._lock:
            queue = self._scripts.get(path)
            return queue.popleft() if queue else self.default

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._received.append(request)


def _answer(answer: Answer | int) -> Answer:
    return answer if isinstance(answer, Answer) else Answer(answer)
