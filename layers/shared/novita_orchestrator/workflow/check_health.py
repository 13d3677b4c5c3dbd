"""CheckHealth: probe the running instance's application once; healthy, wait and probe again, or past
the deadline fail with AppNeverHealthy. The first call notifies ``health_check.started``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.models import Instance, PortMapping
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import (
    AppNeverHealthy,
    HealthTargetRefused,
    StartupFailed,
    novita_errors_translated,
)
from novita_orchestrator.workflow.health import (
    HealthVerdict,
    HttpGet,
    TcpConnect,
    UnsafeTarget,
    judge_health,
    probes_for,
    probes_for_mappings,
    tcp_connect,
)
from novita_orchestrator.workflow.poll_status import wait_seconds
from novita_orchestrator.workflow.polling import next_health_check_delay
from novita_orchestrator.workflow.progress import Subject, change_phase
from novita_orchestrator.workflow.request import HealthCheckSpec
from novita_orchestrator.workflow.state import Target


@dataclass(frozen=True)
class HealthSettings:
    probe_timeout_seconds: float
    interval_seconds: float
    allow_private_targets: bool


def check_health(
    *,
    operation_id: str,
    target: Target,
    instance_id: str,
    spec: HealthCheckSpec | None,
    checks_so_far: int,
    webhook_url: str | None,
    novita: NovitaClient,
    operations: OperationsStore,
    clock: Clock,
    settings: HealthSettings,
    http_get: HttpGet,
    connect: TcpConnect = tcp_connect,
    previous: Mapping[str, Any] | None = None,
    seen_running: Any = None,
) -> dict[str, Any]:
    """``{"outcome": "waiting"|"healthy", "delaySeconds", "checks", "notification", "endpoints",
    "instanceName"}``.

    ``previous`` is the last check's result. Novita is read on the first check (endpoints, and that the
    instance runs); later checks probe the endpoints that result carries, and read Novita again only
    when a probe got no answer at all (the instance may have stopped) or there was nothing to probe.
    ``seen_running`` is the instance as the poll that saw it running read it (by GET, moments ago):
    the first check uses it instead of reading Novita again."""
    check_number = checks_so_far + 1
    port = spec.port if spec else None
    path = spec.path if spec else "/"
    carried = carried_endpoints(previous)
    probes = probes_for_mappings(carried, port=port, path=path)
    instance: Instance | None = None
    if not probes:
        seen = _seen_running(instance_id, seen_running) if check_number == 1 else None
        instance = seen if seen is not None else _running_instance(novita, instance_id)
        carried = _endpoints_of(instance)
        probes = probes_for(instance, port=port, path=path)
    name = _carried_name(previous) if instance is None else instance.name
    name = name or target.instance_name

    subject = Subject(operation_id, instance_id, name, webhook_url)
    counters = {"healthChecks": check_number}
    now = clock.now()
    _, message = change_phase(
        operations,
        subject,
        phase=phases.HEALTH_CHECK,
        event_type=notifications.HEALTH_CHECK_STARTED,
        change_key=f"health:{check_number}",
        now=now,
        counters=counters,
    )

    def result(outcome: str, delay: int) -> dict[str, Any]:
        return _result(outcome, delay, check_number, message) | {
            "endpoints": [m.model_dump(mode="json") for m in carried],
            "instanceName": name,
        }

    if port is None and instance is not None and not instance.port_mappings:
        # Nothing exposed: running is all there is to know.
        return result("healthy", 0)
    timeout = (
        spec.timeoutSeconds if spec and spec.timeoutSeconds else None
    ) or settings.probe_timeout_seconds
    try:
        verdict = judge_health(
            probes,
            timeout=timeout,
            allow_private=settings.allow_private_targets,
            http_get=http_get,
            connect=connect,
            requested_port=port,
        )
    except UnsafeTarget as refused:
        raise HealthTargetRefused(f"health probe of instance {instance_id} refused: {refused}") from None
    if verdict.healthy:
        return result("healthy", 0)
    if verdict.unreachable and instance is None:
        # No answer at all: the container may be gone. Fail fast if Novita says it stopped.
        carried = _endpoints_of(_running_instance(novita, instance_id))

    now = clock.now()
    remaining = target.deadline - now
    if remaining <= 0:
        raise AppNeverHealthy(_never_healthy_message(instance_id, check_number, verdict))
    delay = next_health_check_delay(interval=settings.interval_seconds, remaining=remaining)
    return result("waiting", wait_seconds(delay))


def carried_endpoints(previous: Mapping[str, Any] | None) -> list[PortMapping]:
    """The port mappings an earlier check carried in its result (none when malformed)."""
    raw = previous.get("endpoints") if previous else None
    if not isinstance(raw, list):
        return []
    try:
        return [PortMapping.model_validate(item) for item in raw]
    except ValidationError:
        return []


def _seen_running(instance_id: str, seen: Any) -> Instance | None:
    """The running instance the last poll carried (name and port mappings), or None if malformed."""
    if not isinstance(seen, Mapping):
        return None
    try:
        return Instance.model_validate({**seen, "id": instance_id, "status": "running"})
    except ValidationError:
        return None


def _carried_name(previous: Mapping[str, Any] | None) -> str | None:
    name = previous.get("instanceName") if previous else None
    return name if isinstance(name, str) and name else None


def _endpoints_of(instance: Instance) -> list[PortMapping]:
    # Only what a probe needs: port, type, endpoint (no credentials live there).
    return [
        PortMapping(port=m.port, type=m.type, endpoint=m.endpoint)
        for m in instance.port_mappings
        if m.endpoint
    ]


def _running_instance(novita: NovitaClient, instance_id: str) -> Instance:
    with novita_errors_translated():
        instance = novita.get_instance(instance_id)
    if instance.status != "running":
        detail = (
            f": {instance.status_error.message}"
            if instance.status_error and instance.status_error.message
            else ""
        )
        raise StartupFailed(
            f"instance {instance_id} left running ({instance.status}){detail} during health checks"
        )
    return instance


def _never_healthy_message(instance_id: str, checks: int, verdict: HealthVerdict) -> str:
    return (
        f"instance {instance_id} is running but its app was not healthy by the deadline "
        f"after {checks} checks ({verdict.summary()})"
    )


def _result(outcome: str, delay: int, checks: int, message: dict[str, Any] | None) -> dict[str, Any]:
    return {"outcome": outcome, "delaySeconds": delay, "checks": checks, "notification": message}
