"""Turn what Novita (or the network) answered into the error taxonomy of :mod:`.errors`.

Most Novita business errors are HTTP 400, and Novita does not document its error body. So the kind
is decided by the error *name* first, else by the message text, else by the HTTP status (401, 403,
429 and 5xx always win: they say who may retry). The body is parsed tolerantly: the kratos envelope
``{"code", "reason", "message", "metadata"}``, then ``{"error": {"code", "message"}}`` or a string
``code``, then a search of the raw text for a known name. Live answers without a name are known
(``400 {"code": 400, "message": "invalid state change"}``, "not found" in any case), hence the
case-insensitive phrases of :data:`KINDS_BY_TEXT`. Messages are built from the operation, the name
and Novita's message only, with every known secret masked; request bodies never enter them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ReadTimeoutError

from novita_orchestrator.http_headers import parse_retry_after
from novita_orchestrator.novita.errors import (
    ClientError,
    Conflict,
    Forbidden,
    InsufficientResource,
    NetworkError,
    NotFound,
    NovitaError,
    NovitaTimeout,
    RateLimited,
    Unauthorized,
    UpstreamError,
    ValidationFailed,
)
from novita_orchestrator.novita.redaction import redact_text

ERROR_KINDS_BY_NAME: dict[str, type[NovitaError]] = {
    **dict.fromkeys(
        (
            "RESOURCE_NOT_FOUND",
            "TEMPLATE_NOT_FOUND",
            "IMAGE_NOT_FOUND",
            "NETWORK_NOT_FOUND",
            "NETWORK_STORAGE_NOT_FOUND",
            "INSTANCE_LOCAL_STORAGE_NOT_FOUND",
            "JOB_NOT_FOUND",
            "ORDER_NOT_FOUND",
            "USER_NOT_FOUND",
        ),
        NotFound,
    ),
    **dict.fromkeys(
        (
            "CONFLICT",
            "OPERATION_LIMIT",
            "DEPENDENT_RESOURCE_STATE",
            "CLUSTER_STATUS",
            "NODE_STATUS",
            "IMAGE_AUTH_IN_USE",
            "NETWORK_IN_USE",
            "NETWORK_STORAGE_IN_USE",
            "PREPAID_INSTANCE_NOT_SUPPORT_RELEASE",
            "CREATING_INSTANCE_NOT_SUPPORT_RENEWAL",
            "SAVING_PLAN_ALREADY_EXISTS",
            "GPU_SPEC_USED",
        ),
        Conflict,
    ),
    **dict.fromkeys(
        (
            "INSUFFICIENT_RESOURCE",
            "MIGRATE_INSUFFICIENT_RESOURCE",
            "CREATE_INSTANCE_LIMIT",
            "NETWORK_MAX_LIMIT",
            "NETWORK_STORAGE_UNAVAILABLE",
        ),
        InsufficientResource,
    ),
    **dict.fromkeys(
        (
            "VALIDATOR_PARAM",
            "REQUEST",
            "INVALID_COMMAND_PARAM",
            "UNSUPPORTED_BILLING_MODE",
            "NETWORK_STORAGE_TOO_LARGE",
            "CUR_CLUSTER_NETWORK_STORAGE_NOT_SUPPORT",
            "INVALID_PUBLIC_KEY",
        ),
        ValidationFailed,
    ),
    **dict.fromkeys(("UNAUTHORIZED", "INVALID_USER_TOKEN", "GET_TOKEN_FAILED"), Unauthorized),
    **dict.fromkeys(("FORBIDDEN", "BANNED_USER", "TEMPLATE_IS_PRIVATE", "USER_NOT_ACTIVATED"), Forbidden),
    **dict.fromkeys(("RATE_LIMIT_EXCEEDED", "SEND_CODE_TOO_FAST"), RateLimited),
}

# Names too generic to be trusted when found in free text rather than in a structured field.
_NOT_SEARCHED_IN_TEXT = frozenset({"REQUEST"})
_NAME_IN_TEXT = re.compile(
    r"\b("
    + "|".join(
        sorted((n for n in ERROR_KINDS_BY_NAME if n not in _NOT_SEARCHED_IN_TEXT), key=len, reverse=True)
    )
    + r")\b"
)
#: Phrases of nameless error bodies, in the order they are tried (first match wins).
KINDS_BY_TEXT: tuple[tuple[re.Pattern[str], type[NovitaError]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (r"\bnot[\s_-]*found\b|\bdoes\s*n[o']t\s+exist|\bnot\s+exists?\b|\bno\s+such\b", NotFound),
        (
            r"\binvalid\s+(instance\s+)?state|\bstate\s+change|\bcurrent\s+(state|status)\b"
            r"|\balready\s+(running|started|starting|stopped|stopping|exited|in\s+progress)\b"
            r"|\bconflict",
            Conflict,
        ),
        (
            r"\binsufficient|\bnot\s+enough\s+(resource|capacity|gpu|stock)|\bout\s+of\s+(stock|capacity)"
            r"|\bno\s+(available\s+)?capacity|\bsold\s+out",
            InsufficientResource,
        ),
        (r"\brate[\s_-]*limit|\btoo\s+many\s+requests", RateLimited),
        (
            r"\binvalid\s+param|\bparam(eter)?\s+\S+\s+(is\s+)?(invalid|required)|\bis\s+required\b",
            ValidationFailed,
        ),
    )
)
_NAME_SHAPE = re.compile(r"^[A-Z][A-Z0-9_]{2,63}$")
_MAX_MESSAGE = 300


def parse_error_body(text: str) -> tuple[str | None, str | None]:
    """``(error name, message)`` from an error body of any shape Novita might send."""
    reason: str | None = None
    message: str | None = None
    try:
        body: Any = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        reason = _name(body.get("reason"))
        message = _text(body.get("message")) or _text(body.get("msg"))
        nested = body.get("error")
        if isinstance(nested, Mapping):
            reason = reason or _name(nested.get("reason")) or _name(nested.get("code"))
            message = message or _text(nested.get("message"))
        elif reason is None and isinstance(nested, str):
            reason = _name(nested)
            message = message or (None if reason else _text(nested))
        reason = reason or _name(body.get("code"))
    elif text.strip():
        message = _text(text)
    if reason is None:
        found = _NAME_IN_TEXT.search(text)
        reason = found.group(1) if found else None
    return reason, message


def error_from_response(
    operation: str,
    status: int,
    body_text: str,
    retry_after_header: str | None,
    now: float,
    secrets: Iterable[str] = (),
) -> NovitaError:
    """The error for a non-2xx answer. ``secrets`` are masked wherever Novita might echo them."""
    reason, novita_message = parse_error_body(body_text)
    kind = _kind_for(status, reason, novita_message or body_text)
    detail = redact_text(novita_message or "no message", secrets)[:_MAX_MESSAGE]
    message = f"Novita {operation} failed: {detail}"
    if kind is RateLimited:
        return RateLimited(
            message,
            retry_after=parse_retry_after(retry_after_header, now),
            operation=operation,
            status=status,
            reason=reason,
        )
    return kind(message, operation=operation, status=status, reason=reason)


def error_from_transport(
    operation: str, exc: requests.RequestException, secrets: Iterable[str] = (), base_url: str = ""
) -> NovitaError:
    """The error for a request that got no (complete) answer. When no connection could be made the
    message says so in a user's words (``cannot reach NOVITA_BASE_URL (...): connection refused``),
    not urllib3's pool repr."""
    detail = redact_text(str(exc), secrets)[:_MAX_MESSAGE]
    sent = not _never_connected(exc)
    why = unreachable_reason(exc)
    if why is not None:
        kind = NovitaTimeout if isinstance(exc, requests.Timeout) else NetworkError
        where = f" ({_safe_origin(base_url)})" if base_url else ""
        return kind(
            f"cannot reach NOVITA_BASE_URL{where}: {why} (Novita {operation})",
            operation=operation,
            request_sent=False,
        )
    if isinstance(exc, requests.Timeout) or _is_body_read_timeout(exc):
        return NovitaTimeout(
            f"Novita {operation} timed out: {detail}", operation=operation, request_sent=sent
        )
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return NetworkError(
            f"Novita {operation} lost the connection: {detail}", operation=operation, request_sent=sent
        )
    return NovitaError(f"Novita {operation} could not be sent: {type(exc).__name__}", operation=operation)


def kind_from_text(text: str) -> type[NovitaError] | None:
    """The kind a nameless error message points at (case-insensitive phrases), if any."""
    for pattern, kind in KINDS_BY_TEXT:
        if pattern.search(text):
            return kind
    return None


def _kind_for(status: int, reason: str | None, text: str) -> type[NovitaError]:
    """By name, else by the message text, else by status; 401, 403, 429 and 5xx always by status."""
    named = ERROR_KINDS_BY_NAME.get(reason or "")
    if status == 429 or named is RateLimited:
        return RateLimited
    if status >= 500:
        return UpstreamError
    if status == 401:
        return Unauthorized
    if status == 403:
        return Forbidden
    if named is not None:
        return named
    texted = kind_from_text(text)
    if texted is not None:
        return texted
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status == 422:
        return ValidationFailed
    if status == 408:
        return NovitaTimeout
    return ClientError


def unreachable_reason(exc: requests.RequestException) -> str | None:
    """Why no connection to Novita could be made (refused, name not resolved, connect timeout), or
    None when one was made (a reset or a read timeout after the request went out)."""
    cause: Any = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    if isinstance(cause, NameResolutionError):
        return "its host name does not resolve"
    if isinstance(exc, requests.ConnectTimeout):
        return "the connection timed out"
    if isinstance(cause, NewConnectionError):
        return "connection refused" if "refused" in str(cause).lower() else "no connection could be made"
    return None


def _safe_origin(url: str) -> str:
    """scheme://host[:port] of ``url``: no path, query or credentials in a message."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "not a URL"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def _never_connected(exc: requests.RequestException) -> bool:
    """The connection was never made (refused, unresolvable, connect timeout): nothing reached Novita."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause: Any = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, NewConnectionError)


def _is_body_read_timeout(exc: requests.RequestException) -> bool:
    # requests reports a read timeout *while reading the body* as a ConnectionError.
    return isinstance(exc, requests.ConnectionError) and any(
        isinstance(a, ReadTimeoutError) for a in exc.args
    )


def _name(value: Any) -> str | None:
    if isinstance(value, str) and _NAME_SHAPE.match(value.strip()):
        return value.strip()
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    return None
