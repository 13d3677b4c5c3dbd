"""Strip secrets from anything that came from (or goes to) Novita before it is logged or raised.

Novita returns secrets in clear text (registry passwords, SSH and web-terminal passwords) and create
bodies may carry environment values such as tokens. Everything logged from a Novita exchange goes
through :func:`redact`; exception messages go through :func:`redact_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

REDACTED = "***"

# Keys whose values are secrets wherever they appear. ``imageAuth`` is the inline ``user:pass`` form of
# registry credentials (``imageAuthId`` is only an ID and stays visible).
_SECRET_KEY = re.compile(
    r"pass|secret|token|authorization|api[-_]?key|credential|private[-_]?key", re.IGNORECASE
)
_INLINE_AUTH_KEY = re.compile(r"^image[-_]?auth$", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[^\s\"',;]+", re.IGNORECASE)
_URL_USERINFO = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/\s:@]+):(?P<pw>[^/\s@]+)@", re.IGNORECASE
)
# Free text like "password hunter2" or "token=abc": the word after the keyword is masked.
_KEYWORD_VALUE = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token|api[-_ ]?key)\b[\"']?\s*(?:[:=]|\bis\b)?\s*[\"']?)"
    r"(?P<value>[^\s,;\"']+)",
    re.IGNORECASE,
)
# Secrets shorter than this are not searched for in free text (too many false hits, e.g. "a").
_MIN_SECRET_LENGTH = 4


def is_secret_key(key: str) -> bool:
    """Whether a field (or environment variable) with this name holds a secret."""
    return bool(_SECRET_KEY.search(key) or _INLINE_AUTH_KEY.match(key))


def redact(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, strings, pydantic models) with secret values replaced by ``***``.

    Keys that name secrets are masked; ``{"key": "HF_TOKEN", "value": ...}`` environment pairs have
    their value masked; inside strings, ``Bearer`` tokens and ``user:password@`` URL credentials are
    masked.
    """
    if isinstance(obj, BaseModel):
        return redact(obj.model_dump(by_alias=True))
    if isinstance(obj, Mapping):
        env_name = obj.get("key")
        env_is_secret = isinstance(env_name, str) and is_secret_key(env_name)
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            secret_here = (isinstance(key, str) and is_secret_key(key)) or (env_is_secret and key == "value")
            if secret_here and value not in (None, ""):
                out[key] = REDACTED
            else:
                out[key] = redact(value)
        return out
    if isinstance(obj, list | tuple):
        return [redact(item) for item in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each known secret, ``Bearer`` token and URL password replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    # URL credentials first: a keyword inside the password ("...-secret@host") must not hide them.
    text = _URL_USERINFO.sub(rf"\g<scheme>\g<user>:{REDACTED}@", text)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    return _KEYWORD_VALUE.sub(rf"\g<key>{REDACTED}", text)


def secret_values(obj: Any) -> set[str]:
    """Every secret string inside a request body (so an echo of it in an error message can be masked)."""
    found: set[str] = set()
    if isinstance(obj, Mapping):
        env_name = obj.get("key")
        env_is_secret = isinstance(env_name, str) and is_secret_key(env_name)
        for key, value in obj.items():
            secret_here = (isinstance(key, str) and is_secret_key(key)) or (env_is_secret and key == "value")
            if secret_here and isinstance(value, str):
                found.add(value)
                # Inline ``user:pass`` credentials: the password part alone may be echoed back.
                if ":" in value:
                    found.add(value.split(":", 1)[1])
            else:
                found |= secret_values(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            found |= secret_values(item)
    return found
