"""LaunchInstance: start the instance (nothing to send when it already runs) or create it from the
template with the verified registry-auth ID. A create is never repeated by this step: if the
operation already knows its instance (an earlier attempt created it), that one is used."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.models import CreateInstanceRequest, Template
from novita_orchestrator.novita.redaction import REDACTED
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import InvalidRequest, LaunchRefused, novita_errors_translated
from novita_orchestrator.workflow.progress import Subject, change_phase
from novita_orchestrator.workflow.request import CreateSpec, OperationRequest, describe_validation_error
from novita_orchestrator.workflow.state import Target

MIN_ROOTFS_GB = 10


def launch_instance(
    *,
    operation_id: str,
    request: OperationRequest,
    target: Target,
    image_auth_id: str | None,
    webhook_url: str | None,
    novita: NovitaClient,
    operations: OperationsStore,
    clock: Clock,
) -> dict[str, Any]:
    """``{"instanceId", "notification", "launchedAt"}``: the initiated notification, once per
    operation, and when Novita took the start or create (epoch seconds)."""
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
        instance_id = _create(operation_id, request.create, image_auth_id, novita, operations, clock)
        phase = phases.CREATING

    subject = Subject(operation_id, instance_id, target.instance_name, webhook_url)
    _, message = change_phase(
        operations,
        subject,
        phase=phase,
        event_type=notifications.INITIATED,
        change_key="launch",
        now=clock.now(),
    )
    return {"instanceId": instance_id, "notification": message, "launchedAt": round(clock.now(), 3)}


def _create(
    operation_id: str,
    create: CreateSpec,
    image_auth_id: str | None,
    novita: NovitaClient,
    operations: OperationsStore,
    clock: Clock,
) -> str:
    record = operations.get(operation_id)
    if record is not None and record.instance_id:
        return record.instance_id  # created by an earlier attempt of this step
    with novita_errors_translated(refused=LaunchRefused):
        template = novita.get_template(create.templateId)
        instance_id = novita.create_instance(create_request(create, template, image_auth_id))
    operations.set_instance(
        operation_id,
        instance_id=instance_id,
        instance_name=create.name,
        product_id=create.productId,
        now=clock.now(),
    )
    return instance_id


def create_request(
    create: CreateSpec, template: Template, image_auth_id: str | None
) -> CreateInstanceRequest:
    """The create body: the template's image, command and ports, the request's sizes, ports and envs.

    Template envs whose values the client masked (secret-looking names) are not copied: sending the
    mask would overwrite the real value; the request's ``envs`` set them explicitly.
    """
    envs = {env.key: env.value for env in template.envs if env.key and env.value != REDACTED}
    envs.update(create.envs)
    rootfs = create.rootfsSize or max(template.rootfs_size or MIN_ROOTFS_GB, MIN_ROOTFS_GB)
    try:
        return _build_create_request(create, template, image_auth_id, envs, rootfs)
    except ValidationError as exc:
        raise InvalidRequest(
            f"cannot create from template {template.id!r}: {describe_validation_error(exc)}"
        ) from None


def _build_create_request(
    create: CreateSpec, template: Template, image_auth_id: str | None, envs: dict[str, str], rootfs: int
) -> CreateInstanceRequest:
    return CreateInstanceRequest(
        name=create.name,
        product_id=create.productId,
        gpu_num=create.gpuNum,
        rootfs_size=rootfs,
        image_url=template.image,
        image_auth_id=image_auth_id,
        ports=create.ports or template.ports_spec() or None,
        envs=envs,
        cluster_id=create.clusterId,
        command=template.start_command,
        entrypoint=template.entrypoint,
        min_cuda_version=template.min_cuda_version,
    )
