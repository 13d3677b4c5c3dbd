"""API Gateway (REST, proxy integration) event -> response, with the body size limit in front.

The limit is checked before anything parses the body, so an oversized request costs nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from novita_orchestrator.api.errors import PayloadTooLarge, error_answer
from novita_orchestrator.api.wiring import build_api
from novita_orchestrator.clock import SYSTEM_CLOCK
from novita_orchestrator.settings import Settings, load_settings


def body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError):
            return len(body)
    return len(body.encode("utf-8")) if isinstance(body, str) else len(body)


def proxy_error(error: Exception) -> dict[str, Any]:
    answer = error_answer(error, now=SYSTEM_CLOCK.now())
    return {
        "statusCode": answer.status,
        "headers": {"Content-Type": "application/json", **answer.headers},
        "body": json.dumps(answer.body),
        "isBase64Encoded": False,
    }


def handle_api_event(event: dict[str, Any], context: Any, settings: Settings | None = None) -> dict[str, Any]:
    """Answer one proxy event; configuration problems become JSON 500s naming the setting."""
    try:
        settings = settings if settings is not None else load_settings()
        limit = settings.API_MAX_BODY_BYTES
        if body_size(event) > limit:
            return proxy_error(PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes"))
        runtime = build_api(settings)
        runtime.lambda_context = context
        app = runtime.app
    except Exception as error:  # every failure still answers JSON
        return proxy_error(error)
    response: dict[str, Any] = app.resolve(event, context)
    return response
