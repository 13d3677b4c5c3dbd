"""Notification envelopes (DESIGN §5) and the webhook-queue message that carries them.

An event's id is derived from (operation, type, phase), so a retried step rebuilds the same id and
receivers can deduplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from novita_orchestrator.times import iso

INITIATED = "instance.startup.initiated"
PROGRESS = "instance.startup.progress"
HEALTH_CHECK_STARTED = "instance.startup.health_check.started"
COMPLETED = "instance.startup.completed"
FAILED = "instance.startup.failed"
STOP_INITIATED = "instance.stop.initiated"
STOP_COMPLETED = "instance.stop.completed"
STOP_FAILED = "instance.stop.failed"
DELETE_INITIATED = "instance.delete.initiated"
DELETE_COMPLETED = "instance.delete.completed"
DELETE_FAILED = "instance.delete.failed"
#: Sent a configurable time (AUTO_STOP_WARNING_SECONDS) before an auto-stop lease stops the instance.
AUTOSTOP_PENDING = "instance.autostop.pending"
TERMINAL_TYPES = frozenset({COMPLETED, FAILED, STOP_COMPLETED, STOP_FAILED, DELETE_COMPLETED, DELETE_FAILED})


@dataclass(frozen=True)
class KindOutcomes:
    """How an operation of one kind ends: its status, phase, notification and event on success and
    on failure (start and create share the startup ones)."""

    success_status: str
    success_phase: str
    completed: str
    failed: str
    success_detail_type: str
    failed_detail_type: str


_STARTUP = KindOutcomes("ready", "ready", COMPLETED, FAILED, "InstanceReady", "InstanceStartFailed")
KIND_OUTCOMES = {
    "start": _STARTUP,
    "create": _STARTUP,
    "stop": KindOutcomes(
        "stopped", "stopped", STOP_COMPLETED, STOP_FAILED, "InstanceStopped", "InstanceStopFailed"
    ),
    "delete": KindOutcomes(
        "deleted", "deleted", DELETE_COMPLETED, DELETE_FAILED, "InstanceDeleted", "InstanceDeleteFailed"
    ),
}


def outcomes_of(kind: str) -> KindOutcomes:
    """A kind's outcomes; a document too broken to name its kind ends as a startup."""
    return KIND_OUTCOMES.get(kind, _STARTUP)


# Fixed namespace: ids must be the same in every process and every deployment.
_EVENT_NAMESPACE = uuid.UUID("5f0c6f2e-8a43-4d8e-9a6b-6f1d2b3c4e5a")


def event_id(operation_id: str, event_type: str, phase: str) -> str:
    return "evt_" + uuid.uuid5(_EVENT_NAMESPACE, f"{operation_id}|{event_type}|{phase}").hex


def build_event(
    *,
    event_type: str,
    operation_id: str,
    instance_id: str | None,
    instance_name: str | None,
    phase: str,
    phases: Mapping[str, str],
    now: float,
    extra: Mapping[str, Any] | None = None,
    error: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The envelope ``{id, type, timestamp, data}``; ``error`` ({code, message}) only on failure."""
    data: dict[str, Any] = {
        "operationId": operation_id,
        "instanceId": instance_id,
        "instanceName": instance_name,
        "phase": phase,
        "phases": dict(phases),
        **(extra or {}),
    }
    if error is not None:
        data["error"] = {"code": error["code"], "message": error["message"]}
    return {
        "id": event_id(operation_id, event_type, phase),
        "type": event_type,
        "timestamp": iso(now),
        "data": data,
    }


def queue_message(webhook_url: str | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook-queue message body; sent even without a URL (the dispatcher acknowledges those)."""
    return {"webhook": {"url": webhook_url} if webhook_url else None, "event": dict(event)}


def event_detail(event: dict[str, Any], status: str) -> dict[str, Any]:
    """The EventBridge detail of a terminal notification's event (what the workflows publish)."""
    return {"eventId": event["id"], "type": event["type"], "status": status, **event["data"]}
