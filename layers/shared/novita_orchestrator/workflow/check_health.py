"""CheckHealth: probe the running instance's application once; healthy, wait and probe again, or past
the deadline fail with AppNeverHealthy. The first call notifies ``health_check.started``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
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
    tcp_connect,
)
from novita_orchestrator.workflow.poll_status import wait_seconds
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
) -> dict[str, Any]:
    """``{"outcome": "waiting"|"healthy", "delaySeconds", "checks", "notification"}``."""
    check_number = checks_so_far + 1
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

    subject = Subject(operation_id, instance_id, instance.name or target.instance_name, webhook_url)
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

    port = spec.port if spec else None
    if port is None and not instance.port_mappings:
        # Nothing exposed: running is all there is to know.
        return _result("healthy", 0, check_number, message)
    timeout = (
        spec.timeoutSeconds if spec and spec.timeoutSeconds else None
    ) or settings.probe_timeout_seconds
    probes = probes_for(instance, port=port, path=spec.path if spec else "/")
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
        return _result("healthy", 0, check_number, message)

    now = clock.now()
    remaining = target.deadline - now
    if remaining <= 0:
        raise AppNeverHealthy(_never_healthy_message(instance_id, check_number, verdict))
    delay = min(settings.interval_seconds, remaining)
    return _result("waiting", wait_seconds(delay), check_number, message)


def _never_healthy_message(instance_id: str, checks: int, verdict: HealthVerdict) -> str:
    return (
        f"instance {instance_id} is running but its app was not healthy by the deadline "
        f"after {checks} checks ({verdict.summary()})"
    )


def _result(outcome: str, delay: int, checks: int, message: dict[str, Any] | None) -> dict[str, Any]:
    return {"outcome": outcome, "delaySeconds": delay, "checks": checks, "notification": message}
