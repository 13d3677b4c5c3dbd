"""ResolveTarget: validate the request, record the operation, find the instance (or the template) and
take the per-instance lock, so two operations never drive one instance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NotFound, NovitaError, UnexpectedResponse
from novita_orchestrator.novita.models import REMOVED_STATUSES, Instance
from novita_orchestrator.observability import logger
from novita_orchestrator.steps.leases import check_claimed, supersede
from novita_orchestrator.steps.status_reader import StatusReader
from novita_orchestrator.store.lease_store import LeaseStore
from novita_orchestrator.store.lock_store import LockHeld, LockStore
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.times import epoch_of_iso
from novita_orchestrator.webhooks.url_guard import UrlPolicy
from novita_orchestrator.workflow import phases
from novita_orchestrator.workflow.errors import (
    AmbiguousInstanceName,
    InstanceBusy,
    InstanceNotFound,
    InstanceRemoved,
    InvalidRequest,
    LeaseSuperseded,
    NoMatchingOffer,
    TemplateNotFound,
    novita_errors_translated,
)
from novita_orchestrator.workflow.offers import DEFAULT_PRICE_UNIT_USD, choose_offers, describe_request
from novita_orchestrator.workflow.request import CreateSpec, check_webhook_target
from novita_orchestrator.workflow.state import AcceptedInstance, Offer, OperationState, Target

#: A lock outlives the operation's deadline by this much, so a crashed operation frees it on its own.
LOCK_GRACE_SECONDS = 600.0


@dataclass(frozen=True)
class ResolveTargetDeps:
    novita: NovitaClient
    #: Name and ID lookups, from the shared status snapshot where it is fresh.
    reader: StatusReader
    operations: OperationsStore
    locks: LockStore
    clock: Clock
    url_policy: UrlPolicy
    #: STARTUP_TIMEOUT_SECONDS: the longest a start or create may take (a request may only lower it).
    startup_timeout_seconds: float
    #: NOVITA_PRICE_UNIT_USD: what one unit of a Novita product price is worth (create by GPU type).
    price_unit_usd: float = DEFAULT_PRICE_UNIT_USD
    #: STOP_TIMEOUT_SECONDS: the longest a stop or delete may take (a request may only lower it).
    stop_timeout_seconds: float = 900.0
    #: Auto-stop leases: an operation on an instance supersedes its lease; a lease's own stop checks
    #: that its lease still holds. None: this deployment sets no leases.
    leases: LeaseStore | None = None


def resolve_target(state: OperationState, deps: ResolveTargetDeps) -> Target:
    """Record the operation, find its instance (or template) and take the lock; InstanceBusy if held."""
    operation_id, request = state.operation_id, state.request
    novita, operations, locks = deps.novita, deps.operations, deps.locks
    check_webhook_target(request, deps.url_policy)
    now = deps.clock.now()
    record = operations.create(
        operation_id=operation_id,
        kind=request.kind,
        target=request.target,
        phase=phases.RESOLVING,
        now=now,
        webhook_url=request.webhook.url if request.webhook else None,
    )
    # A retried step keeps the first attempt's start time and deadline.
    started_at = epoch_of_iso(record.created_at) or now
    timeout = deps.startup_timeout_seconds
    if request.timeoutSeconds is not None:
        timeout = min(timeout, request.timeoutSeconds)
    deadline = started_at + timeout

    named = request.start or request.stop or request.delete  # an existing instance, by ID or name
    if named is not None:
        found = _accepted(state.accepted)
        instance = found[0] if found is not None else _find_instance(deps.reader, named.ref)
        if request.delete is not None and request.delete.confirm != instance.name:
            raise InvalidRequest(
                "invalid request: delete.confirm: must repeat the instance's exact name "
                f"to delete {instance.id}"
            )
        starting = request.start is not None
        prior_error = None  # what a start compares a statusError with (a stop or delete has none)
        if starting:
            prior_error = found[1] if found is not None else phases.status_error_record(instance.status_error)
        else:  # a stop or delete has its own time limit
            deadline = started_at + min(deps.stop_timeout_seconds, request.timeoutSeconds or 86_400)
        target = Target(
            kind=request.kind,
            instance_id=instance.id,
            instance_name=instance.name,
            product_id=instance.product_id,
            status=instance.status,
            already_running=starting and instance.status == "running",
            lock_key=instance.id,
            deadline=round(deadline, 3),
            started_at=round(started_at, 3),
            prior_status_error=prior_error,
        )
        operations.set_instance(
            operation_id,
            instance_id=instance.id,
            instance_name=instance.name,
            product_id=instance.product_id,
            now=now,
        )
    else:
        assert request.create is not None
        create = request.create
        with novita_errors_translated():
            try:
                template = novita.get_template(create.templateId)
            except NotFound:
                raise TemplateNotFound(f"Novita template {create.templateId!r} does not exist") from None
        offers = _offers(novita, create, deps.price_unit_usd) if create.gpu is not None else None
        target = Target(
            kind="create",
            instance_id=None,
            instance_name=create.name,
            product_id=create.productId,
            offers=offers,
            status=None,
            already_running=False,
            lock_key=f"name:{create.name}",
            deadline=round(deadline, 3),
            started_at=round(started_at, 3),
            template_image_auth_id=template.image_auth,
        )

    try:
        locks.acquire(
            target.lock_key, operation_id=operation_id, now=now, expires_at=deadline + LOCK_GRACE_SECONDS
        )
    except LockHeld as held:
        what = target.instance_id or target.instance_name
        raise InstanceBusy(
            f"instance {what} is being driven by operation {held.holder}; try again when it has finished",
            holder=held.holder,
        ) from None
    if target.kind == "create":
        # Listed under the lock: no other operation can add an instance of this name from now on.
        with novita_errors_translated():
            existing = novita.find_instances_by_name(target.instance_name)
        target = target.model_copy(update={"existing_instance_ids": sorted(i.id for i in existing)})
    if target.instance_id and deps.leases is not None:
        _settle_lease(deps, target, request.stop.leaseVersion if request.stop else None, operation_id)
    logger.info(
        "target resolved",
        extra={
            "kind": target.kind,
            "instance_id": target.instance_id,
            "already_running": target.already_running,
        },
    )
    return target


def _offers(novita: NovitaClient, create: CreateSpec, unit_usd: float) -> list[Offer]:
    """The offers a create by GPU type tries, in order; NoMatchingOffer (saying why) if none."""
    gpu = create.gpu
    assert gpu is not None
    with novita_errors_translated():
        products = novita.list_products(gpu_num=gpu.count, billing_method=gpu.billing)
    offers, rejected = choose_offers(products, gpu, unit_usd=unit_usd, rootfs_gb=create.rootfsSize)
    if not offers:
        why = "; ".join(r.describe() for r in rejected) or "Novita lists no product of that type"
        raise NoMatchingOffer(f"no Novita offer matches {describe_request(gpu)}: {why}")
    logger.info("offers chosen", extra={"offers": len(offers), "left_out": len(rejected)})
    return offers


def _accepted(accepted: AcceptedInstance | None) -> tuple[Instance, dict[str, Any] | None] | None:
    """The API's resolution and the ``statusError`` it saw before the start, unless it saw the
    instance running: that is read again (by GET), since it decides whether the start is skipped.
    Any other status is safe to act on: a start of an instance that is starting or running by now
    counts as started. When its status was not fresh, the error before the start is unknown
    (``phases.PRIOR_ERROR_UNKNOWN``): a ``statusError`` then waits out the exited grace instead of
    failing at once."""
    if accepted is None or accepted.status == "running":
        return None
    if not accepted.status_fresh:
        return accepted.instance(), phases.PRIOR_ERROR_UNKNOWN
    return accepted.instance(), accepted.status_error


def _find_instance(reader: StatusReader, ref: str) -> Instance:
    with novita_errors_translated():
        return reader.find(ref, fallback=find_instance)


def find_instance(novita: NovitaClient, ref: str) -> Instance:
    """By ID first, else by exact name across every page (none and several are distinct errors).

    What Novita answers for a get of a value that is not an ID is undocumented, so the name lookup
    never depends on that get failing cleanly: any answer but the instance with exactly that ID sends
    the ref on to the name lookup, except 401/403/429 and Novita's own failures (raised). Deleted
    instances never match a name; one addressed by its ID fails with ``InstanceRemoved``.
    """
    instance = _by_id(novita, ref)
    if instance is None:
        named = novita.find_instances_by_name(ref)
        if not named:
            raise InstanceNotFound(f"no Novita instance has the ID or the exact name {ref!r}")
        if len(named) > 1:
            ids = ", ".join(sorted(i.id for i in named))
            raise AmbiguousInstanceName(
                f"{len(named)} Novita instances are named {ref!r} ({ids}); start one by its ID"
            )
        instance = novita.get_instance(named[0].id)
    if instance.status in REMOVED_STATUSES:
        what = f"{instance.id} ({instance.name})" if instance.name else instance.id
        raise InstanceRemoved(f"Novita instance {what} is {instance.status}: it was deleted")
    return instance


def _by_id(novita: NovitaClient, ref: str) -> Instance | None:
    """The instance whose ID is ``ref``, or None when Novita's answer says it is not one."""
    try:
        instance = novita.get_instance(ref)
    except (NotFound, UnexpectedResponse):
        return None
    except NovitaError as error:
        status = error.status
        if status is not None and 400 <= status < 500 and status not in {401, 403, 408, 429}:
            return None
        raise
    return instance if instance.id == ref else None


def _settle_lease(
    deps: ResolveTargetDeps, target: Target, lease_version: int | None, operation_id: str
) -> None:
    """Under the lock: a lease's own stop goes on only while that lease holds (else the lock is let
    go and LeaseSuperseded raised); any other operation supersedes the instance's lease."""
    assert deps.leases is not None and target.instance_id is not None
    if lease_version is None:
        supersede(deps.leases, target.instance_id)
        return
    try:
        check_claimed(deps.leases, target.instance_id, lease_version)
    except LeaseSuperseded:
        deps.locks.release(target.lock_key, operation_id=operation_id)
        raise
