"""API Gateway's IAM auth in front of ``serve``: every request must carry a SigV4 signature that
botocore (AWS's own signer) computes identically, else 403 as API Gateway answers it.

    with IamGateway(upstream=server.url, credentials={"test-access-key": TestCredentials(...)}) as gw:
        gw.url                      # call this instead of the server
        gw.requests                 # every request, its signature verdict and the status returned

A request whose signature matches is forwarded unchanged (``Host`` included, so the status URLs the
API builds point at the gateway) and the upstream answer is passed back. ``botocore_authorization``
is the reference signature, also used to make the vectors the Node.js signer is compared with.
"""

from __future__ import annotations

import hmac
import http.client
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "execute-api"
REGION = "us-east-1"
#: API Gateway refuses a signature more than five minutes away from its clock.
MAX_SKEW_SECONDS = 300
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


@dataclass(frozen=True)
class TestCredentials:
    secret_key: str
    token: str | None = None


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verdict: str  # "ok" or the API Gateway error type that refused it
    status: int
    retry_after: str | None  # the answer's Retry-After header


def botocore_authorization(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    token: str | None = None,
    region: str = REGION,
    amz_date: str,
) -> str:
    """The ``Authorization`` value botocore's SigV4Auth gives this request at ``amz_date``.

    ``headers`` are the headers to sign (``X-Amz-Date`` and the token included, as sent).
    """
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key, token), SERVICE, region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    return (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, SignedHeaders={signed}, Signature={signature}"
    )


class IamGateway:
    def __init__(
        self, *, upstream: str, credentials: Mapping[str, TestCredentials], region: str = REGION
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.credentials = dict(credentials)
        self.region = region
        self.requests: list[GatewayRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="iam-gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> IamGateway:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def verdict(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
        """``("ok", "")``, or the API Gateway error type and message that refuse the request."""
        lowered = {name.lower(): value for name, value in headers.items()}
        authorization = lowered.get("authorization")
        if not authorization:
            return "IncompleteSignatureException", "Missing Authentication Token"
        match = _AUTHORIZATION.match(authorization)
        if not match:
            return (
                "IncompleteSignatureException",
                "Authorization header requires Credential, SignedHeaders, Signature",
            )
        known = self.credentials.get(match["key"])
        if known is None:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        if (match["region"], match["service"]) != (self.region, SERVICE):
            return "InvalidSignatureException", f"Credential should be scoped to {self.region}/{SERVICE}"
        amz_date = lowered.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return "IncompleteSignatureException", "X-Amz-Date is missing or malformed"
        if abs(signed_at.timestamp() - time.time()) > MAX_SKEW_SECONDS or match["day"] != amz_date[:8]:
            return "InvalidSignatureException", "Signature expired"
        if known.token is not None and lowered.get("x-amz-security-token") != known.token:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        signed_names = match["signed"].split(";")
        if "host" not in signed_names or (
            known.token is not None and "x-amz-security-token" not in signed_names
        ):
            return "IncompleteSignatureException", "host (and the security token) must be signed"
        expected = botocore_authorization(
            method=method,
            url=f"http://{lowered.get('host', '')}{target}",
            headers={name: lowered.get(name, "") for name in signed_names},
            body=body,
            access_key=match["key"],
            secret_key=known.secret_key,
            token=known.token,
            region=self.region,
            amz_date=amz_date,
        )
        if not hmac.compare_digest(expected, authorization):
            return (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        return "ok", ""

    def _forward(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60
        )
        try:
            forwarded = {name: value for name, value in headers.items() if name.lower() not in _HOP_BY_HOP}
            connection.request(method, target, body=body or None, headers=forwarded)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                kind, message = gateway.verdict(self.command, self.path, headers, body)
                if kind == "ok":
                    status, answer_headers, answer = gateway._forward(self.command, self.path, headers, body)
                else:
                    status = 403
                    answer_headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", kind)]
                    answer = json.dumps({"message": message}).encode()
                with gateway._lock:
                    gateway.requests.append(
                        GatewayRequest(
                            self.command,
                            self.path,
                            headers,
                            body,
                            kind,
                            status,
                            dict(answer_headers).get("Retry-After"),
                        )
                    )
                self.send_response(status)
                for name, value in answer_headers:
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
