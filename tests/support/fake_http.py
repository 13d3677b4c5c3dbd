"""A ``requests`` session that answers from a function instead of the network (for answers the
simulator never gives), and records what was sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

#: ``(method, url, query) -> (status, body, headers)``; may raise a ``requests`` exception.
Answer = Callable[[str, str, dict[str, Any]], tuple[int, str, dict[str, str]]]


class ScriptedSession(requests.Session):
    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer
        self.sent: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        params = dict(kwargs.get("params") or {})
        self.sent.append((str(method), str(url), params, dict(self.headers)))  # type: ignore[arg-type]
        status, body, headers = self.answer(str(method), str(url), params)
        response = requests.Response()
        response.status_code = status
        response._content = body.encode()
        response.headers.update(headers)
        return response

    def paths(self) -> list[str]:
        """``METHOD /path`` of every request sent, relative to the API base."""
        return [f"{method} {url.split('/openapi/v1', 1)[-1]}" for method, url, _, _ in self.sent]
