"""How the client authenticates: SigV4 (the API's default, ``ApiAuth=IAM``) or an API key.

Each scheme turns one request (method, URL, headers, body bytes) into the headers to add; the
client signs the exact bytes it sends, after it has set every header it wants signed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from novita_orchestrator.client.errors import ClientConfigurationError

#: ``https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`` (the stack's ``ApiUrl`` output).
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class Auth(Protocol):
    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """The headers that authenticate this request (added to ``headers``)."""
        ...


class NoAuth:
    """No credentials (``novita-orchestrator serve`` on loopback without ``--api-key``)."""

    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        return {}


class ApiKey:
    """The API key of a stack deployed with ``ApiAuth=API_KEY`` (or ``serve --api-key``): ``x-api-key``."""

    def __init__(self, key: str) -> None:
        if not key or not key.strip():
            raise ClientConfigurationError("ApiKey: the key is empty")
        self._key = key.strip()

    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        return {"x-api-key": self._key}

    def __repr__(self) -> str:
        return "ApiKey(<hidden>)"


class SigV4:
    """AWS Signature Version 4 for ``execute-api`` (the stack's default ``ApiAuth=IAM``).

    Credentials: the ones given, else botocore's default chain (environment, profile, SSO, instance
    role; refreshed when they expire). Region: the one given, else the one in an
    ``execute-api.<region>.amazonaws.com`` URL, else the session's (``AWS_REGION``, profile).
    """

    service = "execute-api"

    def __init__(
        self,
        region: str | None = None,
        credentials: Credentials | tuple[str, str] | tuple[str, str, str | None] | None = None,
        *,
        session: botocore.session.Session | None = None,
    ) -> None:
        self._session = session
        self._region = region
        self._credentials: Credentials | None = (
            Credentials(*credentials) if isinstance(credentials, tuple) else credentials
        )

    def region_for(self, url: str) -> str:
        if self._region:
            return self._region
        match = _EXECUTE_API_HOST.match((urlsplit(url).hostname or "").lower())
        if match:
            return match.group(1)
        region = self._botocore_session().get_config_variable("region")
        if not region:
            raise ClientConfigurationError(
                "SigV4 needs a region: pass SigV4(region=...) or set AWS_REGION (it is not in the URL)"
            )
        return str(region)

    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        credentials = self._credentials or self._botocore_session().get_credentials()
        if credentials is None:
            raise ClientConfigurationError(
                "SigV4 found no AWS credentials: pass SigV4(credentials=...) or configure them"
                " (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, or a role)"
            )
        frozen = credentials.get_frozen_credentials()
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(frozen, self.service, self.region_for(url)).add_auth(request)
        added = {"Authorization", "X-Amz-Date", "X-Amz-Security-Token"}
        return {name: value for name, value in request.headers.items() if name in added}

    def _botocore_session(self) -> botocore.session.Session:
        if self._session is None:
            self._session = botocore.session.get_session()
        return self._session

    def __repr__(self) -> str:
        return f"SigV4(region={self._region!r})"
