"""The error the simulator answers with, in the go-kratos style envelope Novita's names fit."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


class ApiError(Exception):
    """An error response: HTTP status, Novita error name (``reason``) and a human message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    def envelope(self) -> JSON:
        return error_envelope(self.status, self.reason, self.message)


def error_envelope(status: int, reason: str, message: str) -> JSON:
    return {"code": status, "reason": reason, "message": message, "metadata": {}}


def invalid(field: str, problem: str) -> ApiError:
    """A validation failure naming the offending field, as Novita's ``VALIDATOR_PARAM``."""
    return ApiError(400, "VALIDATOR_PARAM", f"invalid parameter {field}: {problem}")


def not_found(what: str, ident: str, reason: str = "RESOURCE_NOT_FOUND") -> ApiError:
    return ApiError(400, reason, f"{what} {ident!r} not found")


def conflict(message: str) -> ApiError:
    return ApiError(400, "CONFLICT", message)
