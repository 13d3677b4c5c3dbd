"""The error the simulator answers with: the go-kratos style envelope Novita's names fit, or (the
``bare-errors`` dialect) only ``{"code", "message"}`` with the clue in the text, as live answers show."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


class ApiError(Exception):
    """An error response: HTTP status, Novita error name (``reason``) and a human message."""

    def __init__(self, status: int, reason: str, message: str, bare_message: str | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        #: The text a nameless body carries instead (default: ``message``).
        self.bare_message = bare_message

    def envelope(self, *, bare: bool = False) -> JSON:
        return error_envelope(
            self.status, self.reason, self.message, bare=bare, bare_message=self.bare_message
        )


def error_envelope(
    status: int, reason: str, message: str, *, bare: bool = False, bare_message: str | None = None
) -> JSON:
    if bare:
        return {"code": status, "message": bare_message or message}
    return {"code": status, "reason": reason, "message": message, "metadata": {}}


def invalid(field: str, problem: str) -> ApiError:
    """A validation failure naming the offending field, as Novita's ``VALIDATOR_PARAM``."""
    return ApiError(400, "VALIDATOR_PARAM", f"invalid parameter {field}: {problem}")


def not_found(what: str, ident: str, reason: str = "RESOURCE_NOT_FOUND") -> ApiError:
    return ApiError(400, reason, f"{what} {ident!r} not found", bare_message=f"{what} not found".title())


def conflict(message: str) -> ApiError:
    return ApiError(400, "CONFLICT", message, bare_message="invalid state change")


def insufficient(message: str) -> ApiError:
    return ApiError(400, "INSUFFICIENT_RESOURCE", message, bare_message=f"{message}: INSUFFICIENT_RESOURCE")
