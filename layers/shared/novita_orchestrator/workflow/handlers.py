"""Event -> step -> JSON result, for each Lambda of the startup workflow.

Each function receives the whole state document (``$``) and returns what lands at its ResultPath.
The Lambda entry points (functions/<name>/app.py) only add Powertools context and call these.

Each handler imports its own step's module when called, so a function's cold start loads only its step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from novita_orchestrator.observability import logger
from novita_orchestrator.workflow.errors import InvalidRequest
from novita_orchestrator.workflow.state import (
    State,
    Target,
    instance_id_of,
    operation_id_of,
    request_of,
    section,
    webhook_url_of,
)
from novita_orchestrator.workflow.wiring import (
    Dependencies,
    health_settings,
    poll_settings,
    resolve_limits,
)


def _state(event: Any) -> State:
    if not isinstance(event, Mapping):
        raise InvalidRequest("the event must be the state document (a JSON object)")
    return event


def _instance_id(state: State) -> str:
    instance_id = instance_id_of(state)
    if instance_id is None:
        raise InvalidRequest("the state names no instance: ResolveTarget/LaunchInstance did not run")
    return instance_id


def handle_resolve_target(event: Any, deps: Dependencies) -> dict[str, Any]:
    from novita_orchestrator.webhooks.url_guard import UrlPolicy
    from novita_orchestrator.workflow.request import check_webhook_target
    from novita_orchestrator.workflow.resolve_target import resolve_target

    state = _state(event)
    operation_id = operation_id_of(state)
    request = request_of(state)
    check_webhook_target(request, UrlPolicy.from_settings(deps.settings))
    target = resolve_target(
        operation_id=operation_id,
        request=request,
        novita=deps.novita,
        reader=deps.status_reader,
        operations=deps.operations,
        locks=deps.locks,
        clock=deps.clock,
        limits=resolve_limits(deps.settings),
        accepted=state.get("accepted"),
    )
    logger.info(
        "target resolved",
        extra={
            "kind": target.kind,
            "instance_id": target.instance_id,
            "already_running": target.already_running,
        },
    )
    return target.to_state()


def handle_resolve_registry_auth(event: Any, deps: Dependencies) -> dict[str, Any]:
    from novita_orchestrator.workflow.resolve_registry_auth import resolve_registry_auth

    state = _state(event)
    return resolve_registry_auth(target=Target.from_state(state.get("target")), novita=deps.novita)


def handle_launch_instance(event: Any, deps: Dependencies) -> dict[str, Any]:
    from novita_orchestrator.workflow.launch_instance import launch_instance

    state = _state(event)
    image_auth_id = section(state, "registryAuth").get("imageAuthId")
    result = launch_instance(
        operation_id=operation_id_of(state),
        request=request_of(state),
        target=Target.from_state(state.get("target")),
        image_auth_id=image_auth_id if isinstance(image_auth_id, str) and image_auth_id else None,
        webhook_url=webhook_url_of(state),
        novita=deps.novita,
        operations=deps.operations,
        clock=deps.clock,
    )
    logger.info("instance launched", extra={"instance_id": result["instanceId"]})
    return result


def handle_poll_status(event: Any, deps: Dependencies) -> dict[str, Any]:
    from novita_orchestrator.workflow.poll_status import poll_status

    state = _state(event)
    previous = section(state, "poll")
    polls = previous.get("polls", 0)
    launched_at = section(state, "launch").get("launchedAt")
    confirmed_at = previous.get("confirmedAt")
    seen = previous.get("status")
    result = poll_status(
        operation_id=operation_id_of(state),
        target=Target.from_state(state.get("target")),
        instance_id=_instance_id(state),
        polls_so_far=polls if isinstance(polls, int) else 0,
        webhook_url=webhook_url_of(state),
        reader=deps.status_reader,
        launched_at=float(launched_at) if isinstance(launched_at, int | float) else None,
        confirmed_at=float(confirmed_at) if isinstance(confirmed_at, int | float) else None,
        operations=deps.operations,
        stats=deps.stats,
        clock=deps.clock,
        settings=poll_settings(deps.settings),
        previous_status=seen if isinstance(seen, str) else None,
    )
    logger.info(
        "status polled",
        extra={
            "phase": result["phase"],
            "outcome": result["outcome"],
            "delay_seconds": result["delaySeconds"],
        },
    )
    return result


def handle_check_health(event: Any, deps: Dependencies) -> dict[str, Any]:
    from novita_orchestrator.workflow.check_health import check_health

    state = _state(event)
    previous = section(state, "health")
    checks = previous.get("checks", 0)
    request = request_of(state)
    result = check_health(
        operation_id=operation_id_of(state),
        target=Target.from_state(state.get("target")),
        instance_id=_instance_id(state),
        spec=request.healthCheck,
        checks_so_far=checks if isinstance(checks, int) else 0,
        webhook_url=webhook_url_of(state),
        novita=deps.novita,
        operations=deps.operations,
        clock=deps.clock,
        settings=health_settings(deps.settings),
        http_get=deps.http_get,
        previous=previous,
        seen_running=section(state, "poll").get("instance"),
    )
    logger.info("health checked", extra={"outcome": result["outcome"], "checks": result["checks"]})
    return result


def handle_finish_operation(event: Any, deps: Dependencies) -> dict[str, Any]:
    """The event is the state document with ``outcome`` ("ready" | "failed") merged in (or nested as
    ``{"outcome", "state"}``)."""
    from novita_orchestrator.workflow.finish_operation import finish_operation

    event = _state(event)
    nested = event.get("state")
    state: State = nested if isinstance(nested, Mapping) else event
    outcome = str(event.get("outcome") or state.get("outcome") or "")
    operation_id = state.get("operationId")
    result = finish_operation(
        operation_id=operation_id if isinstance(operation_id, str) and operation_id else "op-unknown",
        outcome=outcome,
        state=state,
        operations=deps.operations,
        locks=deps.locks,
        clock=deps.clock,
    )
    logger.info(
        "operation finished", extra={"status": outcome, "code": result["event"].get("error", {}).get("code")}
    )
    return result
