"""LaunchInstance: start the instance (nothing to send when it already runs) or create it from the
template with the verified registry-auth ID. A create is never repeated by this step: if the
operation already knows its instance (an earlier attempt created it), that one is used."""

from __future__ import annotations

from dataclasses import dataclass

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.observability import logger
from novita_orchestrator.steps.progress import Subject, change_phase
from novita_orchestrator.store.env_values_store import EnvValuesStore
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.create_body import create_request
from novita_orchestrator.workflow.errors import InvalidRequest, LaunchRefused, novita_errors_translated
from novita_orchestrator.workflow.request import CreateSpec
from novita_orchestrator.workflow.state import LaunchResult, StepState, StoredEnvs


@dataclass(frozen=True)
class LaunchInstanceDeps:
    novita: NovitaClient
    operations: OperationsStore
    clock: Clock
    #: The create's environment values, stored by whoever started the execution.
    env_values: EnvValuesStore


def launch_instance(state: StepState, deps: LaunchInstanceDeps) -> LaunchResult:
    """The instance, the ``initiated`` notification (once per operation) and when Novita took the
    start or create (the first poll waits the shortest poll interval from then)."""
    target, request, novita, clock = state.target, state.request, deps.novita, deps.clock
    operation_id = state.operation_id
    image_auth_id = (state.registry_auth.image_auth_id if state.registry_auth else None) or None
    if target.kind == "start":
        assert target.instance_id is not None
        instance_id = target.instance_id
        if target.already_running:
            phase = phases.RUNNING
        else:
            with novita_errors_translated(refused=LaunchRefused):
                novita.start_instance(instance_id)
            phase = phases.STARTING
    else:
        assert request.create is not None
        instance_id = _create(operation_id, request.create, state.stored_envs, image_auth_id, deps)
        phase = phases.CREATING

    subject = Subject(operation_id, instance_id, target.instance_name, state.webhook_url)
    _, message = change_phase(
        deps.operations,
        subject,
        phase=phase,
        event_type=notifications.INITIATED,
        change_key="launch",
        now=clock.now(),
    )
    logger.info("instance launched", extra={"instance_id": instance_id})
    return LaunchResult(instance_id=instance_id, notification=message, launched_at=round(clock.now(), 3))


def _create(
    operation_id: str,
    create: CreateSpec,
    stored_envs: StoredEnvs | None,
    image_auth_id: str | None,
    deps: LaunchInstanceDeps,
) -> str:
    record = deps.operations.get(operation_id)
    if record is not None and record.instance_id:
        return record.instance_id  # created by an earlier attempt of this step
    if stored_envs is not None:
        create = create.model_copy(update={"envs": _stored_values(operation_id, stored_envs, deps)})
    with novita_errors_translated(refused=LaunchRefused):
        template = deps.novita.get_template(create.templateId)
        instance_id = deps.novita.create_instance(create_request(create, template, image_auth_id))
    deps.operations.set_instance(
        operation_id,
        instance_id=instance_id,
        instance_name=create.name,
        product_id=create.productId,
        now=deps.clock.now(),
    )
    if stored_envs is not None:
        # Novita has them now, and a retry of this step uses the recorded instance.
        deps.env_values.delete(operation_id)
    return instance_id


def _stored_values(operation_id: str, stored: StoredEnvs, deps: LaunchInstanceDeps) -> dict[str, str]:
    values = deps.env_values.get(operation_id)
    if values is None or sorted(values) != sorted(stored.names):
        raise InvalidRequest(
            f"the values of the create's envs ({', '.join(stored.names)}) are no longer stored: "
            "they expire two days after the request; send it again"
        )
    return values
