"""How an operation ended: ``{code, message}`` of a failure, from what the state machine caught."""

from __future__ import annotations

import json
from collections.abc import Mapping

from novita_orchestrator.novita.redaction import redact_text
from novita_orchestrator.workflow.errors import code_for_error_name
from novita_orchestrator.workflow.state import CaughtError

MAX_MESSAGE_LENGTH = 1000


def failure_from_error(error: CaughtError | None) -> dict[str, str]:
    """``{code, message}`` from a Catch's ``{Error, Cause}``; Cause is the Lambda's error JSON or text."""
    if error is None:
        return {"code": "INTERNAL", "message": "the operation failed for an unknown reason"}
    name = error.Error
    message = ""
    if error.Cause:
        try:
            parsed = json.loads(error.Cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping):
            name = str(parsed.get("errorType") or name)
            message = str(parsed.get("errorMessage") or "")
        else:
            message = error.Cause
    message = redact_text(message or name or "the operation failed").strip()
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return {"code": code_for_error_name(name), "message": message}
