"""Typed reads of the state document the state machine passes to every step (keys are the contract's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from novita_orchestrator.workflow.errors import InvalidRequest
from novita_orchestrator.workflow.request import OperationRequest, parse_request

State = Mapping[str, Any]


@dataclass(frozen=True)
class Target:
    """``$.target``: what ResolveTarget found and decided."""

    kind: str
    instance_id: str | None
    instance_name: str
    product_id: str | None
    status: str | None
    already_running: bool
    lock_key: str
    #: Epoch seconds after which the operation fails with a timeout.
    deadline: float
    #: Epoch seconds when the operation began (startup durations are measured from here).
    started_at: float
    #: The template's registry-auth ID (create from a private image); never a password.
    template_image_auth_id: str | None = None
    #: The ``statusError`` the instance showed before this operation started it (redacted): seeing
    #: it again during the start is an old failure, not this start's (Novita may not clear it).
    prior_status_error: dict[str, Any] | None = None

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "instanceId": self.instance_id,
            "instanceName": self.instance_name,
            "productId": self.product_id,
            "status": self.status,
            "alreadyRunning": self.already_running,
            "lockKey": self.lock_key,
            "deadline": self.deadline,
            "startedAt": self.started_at,
            "templateImageAuthId": self.template_image_auth_id,
            "priorStatusError": self.prior_status_error,
        }

    @classmethod
    def from_state(cls, data: Any) -> Target:
        if not isinstance(data, Mapping):
            raise InvalidRequest("the state has no target: ResolveTarget did not run")
        return cls(
            kind=str(data.get("kind", "")),
            instance_id=data.get("instanceId"),
            instance_name=str(data.get("instanceName") or ""),
            product_id=data.get("productId"),
            status=data.get("status"),
            already_running=bool(data.get("alreadyRunning", False)),
            lock_key=str(data.get("lockKey") or ""),
            deadline=float(data.get("deadline", 0)),
            started_at=float(data.get("startedAt", 0)),
            template_image_auth_id=data.get("templateImageAuthId"),
            prior_status_error=_mapping_or_none(data.get("priorStatusError")),
        )


def _mapping_or_none(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def operation_id_of(state: State) -> str:
    value = state.get("operationId")
    if not isinstance(value, str) or not value:
        raise InvalidRequest("operationId: is required")
    return value


def request_of(state: State) -> OperationRequest:
    return parse_request(state.get("request"))


def webhook_url_of(state: State) -> str | None:
    request = state.get("request")
    webhook = request.get("webhook") if isinstance(request, Mapping) else None
    url = webhook.get("url") if isinstance(webhook, Mapping) else None
    return url if isinstance(url, str) and url else None


def section(state: State, key: str) -> Mapping[str, Any]:
    """``$.<key>`` as a mapping, or empty when that step has not run."""
    value = state.get(key)
    return value if isinstance(value, Mapping) else {}


def instance_id_of(state: State) -> str | None:
    """The instance the operation drives: the launch's result, else what ResolveTarget found."""
    launched = section(state, "launch").get("instanceId")
    if isinstance(launched, str) and launched:
        return launched
    found = section(state, "target").get("instanceId")
    return found if isinstance(found, str) and found else None
