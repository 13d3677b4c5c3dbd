"""The body of a create: what the template gives, what the request sets (no I/O)."""

from __future__ import annotations

from pydantic import ValidationError

from novita_orchestrator.novita.models import CreateInstanceRequest, Template
from novita_orchestrator.novita.redaction import REDACTED
from novita_orchestrator.workflow.errors import InvalidRequest
from novita_orchestrator.workflow.request import CreateSpec, describe_validation_error
from novita_orchestrator.workflow.state import Offer

MIN_ROOTFS_GB = 10


def create_request(
    create: CreateSpec, template: Template, image_auth_id: str | None, offer: Offer
) -> CreateInstanceRequest:
    """The create body: the template's image, command and ports, the request's sizes, ports and envs,
    the offer's product, cluster, GPU count and billing.

    Template envs whose values the client masked (secret-looking names) are not copied: sending the
    mask would overwrite the real value; the request's ``envs`` set them explicitly.
    """
    envs = {env.key: env.value for env in template.envs if env.key and env.value != REDACTED}
    envs.update(create.envs)
    rootfs = create.rootfsSize or max(template.rootfs_size or MIN_ROOTFS_GB, MIN_ROOTFS_GB)
    try:
        return _build_create_request(create, template, image_auth_id, envs, rootfs, offer)
    except ValidationError as exc:
        raise InvalidRequest(
            f"cannot create from template {template.id!r}: {describe_validation_error(exc)}"
        ) from None


def _build_create_request(
    create: CreateSpec,
    template: Template,
    image_auth_id: str | None,
    envs: dict[str, str],
    rootfs: int,
    offer: Offer,
) -> CreateInstanceRequest:
    return CreateInstanceRequest(
        name=create.name,
        product_id=offer.product_id,
        gpu_num=offer.gpu_num,
        rootfs_size=rootfs,
        image_url=template.image,
        image_auth_id=image_auth_id,
        ports=create.ports or template.ports_spec() or None,
        envs=envs,
        cluster_id=offer.cluster_id,
        billing_mode=offer.billing,
        command=template.start_command,
        entrypoint=template.entrypoint,
        min_cuda_version=template.min_cuda_version,
    )
