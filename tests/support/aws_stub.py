"""A loopback stand-in for the two AWS APIs DynamoDB Local and the simulator do not cover, for the
cold-start benchmark: Step Functions ``StartExecution`` and Secrets Manager ``GetSecretValue``.

Both are AWS JSON protocol calls (a POST whose ``X-Amz-Target`` names the action); the stub answers
with the documented response shape, so the functions' real boto3 clients do their real work (request
signing, endpoint resolution, response parsing). Point them at it with ``AWS_ENDPOINT_URL_SFN`` and
``AWS_ENDPOINT_URL_SECRETS_MANAGER``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from novita_orchestrator.store.executions import execution_arn


class AwsStub:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = dict(secrets)
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the stub is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, target: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(target)
        if target == "AWSStepFunctions.StartExecution":
            arn = execution_arn(str(request["stateMachineArn"]), str(request["name"]))
            return 200, {"executionArn": arn, "startDate": time.time()}
        if target == "secretsmanager.GetSecretValue":
            secret_id = str(request["SecretId"])
            if secret_id not in self.secrets:
                return 400, {"__type": "ResourceNotFoundException", "Message": "no such secret"}
            return 200, {"ARN": secret_id, "Name": secret_id, "SecretString": self.secrets[secret_id]}
        return 400, {"__type": "UnknownOperationException", "Message": target}

    def __enter__(self) -> AwsStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = stub.answer(self.headers.get("X-Amz-Target", ""), json.loads(body or b"{}"))
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="aws-stub", daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
