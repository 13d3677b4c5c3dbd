"""LaunchInstance: start the instance (nothing to send when it already runs) or create it from the
template with the verified registry-auth ID. A create is never repeated by this step: if the
operation already knows its instance, or an instance of its name appeared that was not there when
ResolveTarget listed the name (an earlier attempt created it and failed before recording it), that
one is used. A create by GPU type tries its offers in order until one has capacity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import InsufficientResource, NovitaError
from novita_orchestrator.novita.models import Template
from novita_orchestrator.observability import logger
from novita_orchestrator.steps.progress import Subject, change_phase
from novita_orchestrator.store.env_values_store import EnvValuesStore
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.create_body import create_request
from novita_orchestrator.workflow.errors import (
    CapacityUnavailable,
    InvalidRequest,
    LaunchRefused,
    novita_errors_translated,
    novita_message,
    translate_novita_error,
)
from novita_orchestrator.workflow.offers import describe_request, requested_offer
from novita_orchestrator.workflow.request import CreateSpec
from novita_orchestrator.workflow.state import LaunchResult, Offer, StepState, StoredEnvs, Target


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
    product_id = None  # known to ResolveTarget, except for a create by GPU type
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
        instance_id, product_id = _create(
            operation_id, request.create, target, state.stored_envs, image_auth_id, deps
        )
        if state.stored_envs is not None:
            # Novita has them now, and a retry of this step uses the recorded instance.
            deps.env_values.delete(operation_id)
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
    return LaunchResult(
        instance_id=instance_id,
        notification=message,
        launched_at=round(clock.now(), 3),
        product_id=product_id if target.product_id is None else None,
    )


def _create(
    operation_id: str,
    create: CreateSpec,
    target: Target,
    stored_envs: StoredEnvs | None,
    image_auth_id: str | None,
    deps: LaunchInstanceDeps,
) -> tuple[str, str | None]:
    """The instance and its product."""
    record = deps.operations.get(operation_id)
    if record is not None and record.instance_id:
        return record.instance_id, record.product_id  # created by an earlier attempt of this step
    if stored_envs is not None:
        create = create.model_copy(update={"envs": _stored_values(operation_id, stored_envs, deps)})
    novita, existing_ids = deps.novita, target.existing_instance_ids
    with novita_errors_translated(refused=LaunchRefused):
        # An earlier attempt may have created it and failed before recording it (a Lambda retry).
        found = _created_earlier(novita, create.name, existing_ids)
        if found is not None:
            return _adopt(deps, operation_id, create, found)
        template = novita.get_template(create.templateId)
    if create.gpu is None:
        offer = requested_offer(create)
        with novita_errors_translated(refused=LaunchRefused):
            body = create_request(create, template, image_auth_id, offer)
            instance_id = novita.create_instance(body, known_ids=existing_ids)
        _record(deps, operation_id, create, instance_id, offer.product_id)
        return instance_id, offer.product_id
    return _create_on_first_free_offer(operation_id, create, target, template, image_auth_id, deps)


def _create_on_first_free_offer(
    operation_id: str,
    create: CreateSpec,
    target: Target,
    template: Template,
    image_auth_id: str | None,
    deps: LaunchInstanceDeps,
) -> tuple[str, str | None]:
    """Try the offers in order; a sold-out one (INSUFFICIENT_RESOURCE, named or in the message) moves
    on to the next, anything else fails the launch. One instance at most: before each next offer the
    name is looked up again, so an answer lost on the way is never taken for "not created"."""
    novita, existing_ids = deps.novita, target.existing_instance_ids
    assert create.gpu is not None
    tried: list[dict[str, Any]] = []
    for offer in target.offers or []:
        with novita_errors_translated(refused=LaunchRefused):
            found = _created_earlier(novita, create.name, existing_ids) if tried else None
            if found is not None:
                return _adopt(deps, operation_id, create, found, tried)
            body = create_request(create, template, image_auth_id, offer)
        try:
            instance_id = novita.create_instance(body, known_ids=existing_ids)
        except InsufficientResource as sold_out:
            why = f"sold out ({sold_out.reason or sold_out.code}): {novita_message(sold_out)}"
            tried.append({**offer.to_state(), "outcome": why})
            logger.info("offer sold out; trying the next", extra={"product_id": offer.product_id})
            continue
        except NovitaError as error:
            raise translate_novita_error(error, refused=LaunchRefused) from None
        tried.append({**offer.to_state(), "outcome": "created"})
        _record(deps, operation_id, create, instance_id, offer.product_id, offer, tried)
        return instance_id, offer.product_id
    every = "; ".join(f"{Offer.model_validate(t).describe()}: {t['outcome']}" for t in tried)
    raise CapacityUnavailable(
        f"every Novita offer for {describe_request(create.gpu)} was sold out: {every or 'no offers'}"
    )


def _created_earlier(novita: NovitaClient, name: str, existing_ids: list[str] | None) -> str | None:
    if existing_ids is None:  # a state from before ResolveTarget listed them: nothing to compare with
        return None
    found = novita.created_instance(name, existing_ids)
    if found is not None:
        logger.warning("an earlier attempt created the instance", extra={"instance_id": found})
    return found


def _adopt(
    deps: LaunchInstanceDeps,
    operation_id: str,
    create: CreateSpec,
    instance_id: str,
    offers_tried: list[dict[str, Any]] | None = None,
) -> tuple[str, str | None]:
    """Record an instance an earlier create made (its answer lost), with the product it runs on."""
    product_id = deps.novita.get_instance(instance_id).product_id
    _record(deps, operation_id, create, instance_id, product_id, offers_tried=offers_tried)
    return instance_id, product_id


def _record(
    deps: LaunchInstanceDeps,
    operation_id: str,
    create: CreateSpec,
    instance_id: str,
    product_id: str | None,
    offer: Offer | None = None,
    offers_tried: list[dict[str, Any]] | None = None,
) -> None:
    deps.operations.set_instance(
        operation_id,
        instance_id=instance_id,
        instance_name=create.name,
        product_id=product_id,
        now=deps.clock.now(),
        offer=offer.to_state() if offer is not None else None,
        offers_tried=offers_tried,
    )


def _stored_values(operation_id: str, stored: StoredEnvs, deps: LaunchInstanceDeps) -> dict[str, str]:
    values = deps.env_values.get(operation_id)
    if values is None or sorted(values) != sorted(stored.names):
        raise InvalidRequest(
            f"the values of the create's envs ({', '.join(stored.names)}) are no longer stored: "
            "they expire two days after the request; send it again"
        )
    return values
