"""StopInstance (the stop workflow): send the stop or the delete, unless the instance is already
there or on its way: a stop of an ``exited`` (or ``toStop``/``stopping``) instance and a delete of
one being deleted send nothing (a retried step finds its own stop under way and sends no second).

The status is read by GET here (not from the shared snapshot): it decides whether a POST is sent.
Both POSTs are lifecycle actions of the client, repeated only after a GET shows they did not take
effect, so a retried step sends no second stop."""

from __future__ import annotations

from dataclasses import dataclass

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NotFound
from novita_orchestrator.novita.models import REMOVED_STATUSES, STOPPING_STATUSES
from novita_orchestrator.observability import logger
from novita_orchestrator.steps.progress import Subject, change_phase
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import InstanceRemoved, StopRefused, novita_errors_translated
from novita_orchestrator.workflow.state import ActionResult, StopState


@dataclass(frozen=True)
class StopInstanceDeps:
    novita: NovitaClient
    operations: OperationsStore
    clock: Clock


def stop_instance(state: StopState, deps: StopInstanceDeps) -> ActionResult:
    """Whether a POST was sent, and the ``instance.stop.initiated`` / ``instance.delete.initiated``."""
    target, novita = state.target, deps.novita
    instance_id = state.instance_id
    deleting = target.kind == "delete"
    with novita_errors_translated(refused=StopRefused):
        status = _status(novita, instance_id)
        if deleting:
            sent = status is not None and status not in REMOVED_STATUSES
            if sent:
                _delete(novita, instance_id)
        else:
            if status is None or status in REMOVED_STATUSES:
                raise InstanceRemoved(f"Novita instance {instance_id} is deleted: there is nothing to stop")
            sent = status not in STOPPING_STATUSES
            if sent:
                novita.stop_instance(instance_id)
    subject = Subject(state.operation_id, instance_id, target.instance_name, state.webhook_url)
    _, message = change_phase(
        deps.operations,
        subject,
        phase=phases.DELETING if deleting else phases.STOPPING,
        event_type=notifications.DELETE_INITIATED if deleting else notifications.STOP_INITIATED,
        change_key="action",
        now=deps.clock.now(),
    )
    logger.info("instance action", extra={"instance_id": instance_id, "kind": target.kind, "sent": sent})
    return ActionResult(instance_id=instance_id, sent=sent, notification=message, acted_at=deps.clock.now())


def _status(novita: NovitaClient, instance_id: str) -> str | None:
    """The instance's status, or None when Novita no longer has it."""
    try:
        return novita.get_instance(instance_id).status
    except NotFound:
        return None


def _delete(novita: NovitaClient, instance_id: str) -> None:
    try:
        novita.delete_instance(instance_id)
    except NotFound:
        # A repeat of a delete whose answer was lost finds the row gone: it is deleted.
        logger.info("instance already gone", extra={"instance_id": instance_id})
