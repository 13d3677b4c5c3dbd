"""CheckHealth: probe the running instance's application once; healthy, wait and probe again, or past
the deadline fail with AppNeverHealthy. The first call notifies ``health_check.started``."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import requests

from novita_orchestrator.clock import Clock
from novita_orchestrator.invocation import remaining_seconds
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.models import Instance, PortMapping
from novita_orchestrator.observability import logger
from novita_orchestrator.outbound import Resolver
from novita_orchestrator.steps.progress import Subject, change_phase
from novita_orchestrator.store.operations_store import OperationsStore
from novita_orchestrator.workflow import notifications, phases
from novita_orchestrator.workflow.errors import (
    AppNeverHealthy,
    HealthPortNotMapped,
    HealthTargetRefused,
    StartupFailed,
    novita_errors_translated,
)
from novita_orchestrator.workflow.health import (
    HealthVerdict,
    HttpGet,
    NoAnswer,
    TcpConnect,
    UnsafeTarget,
    judge_health,
    probes_for,
    probes_for_mappings,
)
from novita_orchestrator.workflow.polling import next_health_check_delay, wait_seconds
from novita_orchestrator.workflow.state import HealthResult, RunningInstance, StepState

#: Kept back from the invocation for what may follow the probes: a Novita read (its retries are cut
#: to what is left anyway) and the state change.
RESERVED_AFTER_PROBES_SECONDS = 12.0
#: Probing never gets less than this, even late in a short invocation.
MIN_PROBING_SECONDS = 0.5


@dataclass(frozen=True)
class CheckHealthDeps:
    novita: NovitaClient
    operations: OperationsStore
    clock: Clock
    http_get: HttpGet
    connect: TcpConnect
    resolve: Resolver
    #: HEALTH_CHECK_TIMEOUT_SECONDS: the time one probe may take (a request may set its own).
    probe_timeout_seconds: float
    #: HEALTH_CHECK_INTERVAL_SECONDS: the wait before probing an unhealthy app again.
    interval_seconds: float
    #: ALLOW_PRIVATE_NETWORK_TARGETS.
    allow_private_targets: bool


def check_health(state: StepState, deps: CheckHealthDeps) -> HealthResult:
    """``healthy``, or ``waiting`` with the delay before the next check.

    Novita is read on the first check (endpoints, and that the instance runs) unless the poll that
    saw it running read it by GET moments ago (``$.poll.instance``); later checks probe the
    endpoints the previous result carries, and read Novita again only when a probe got no answer at
    all (the instance may have stopped) or there was nothing to probe."""
    target, instance_id, previous = state.target, state.instance_id, state.health
    spec = state.request.healthCheck
    check_number = (previous.checks if previous else 0) + 1
    port = spec.port if spec else None
    path = spec.path if spec else "/"
    carried = list(previous.endpoints) if previous else []
    probes = probes_for_mappings(carried, port=port, path=path)
    instance: Instance | None = None
    if not probes:
        seen = state.poll.instance if state.poll and check_number == 1 else None
        instance = _seen_running(instance_id, seen) if seen else _running_instance(deps.novita, instance_id)
        carried = _endpoints_of(instance)
        probes = probes_for(instance, port=port, path=path)
        if port is not None and not probes:
            _refuse_unmapped_port(instance, port)
    if instance is not None:
        name = instance.name or target.instance_name
    else:
        name = (previous.instance_name if previous else None) or target.instance_name

    subject = Subject(state.operation_id, instance_id, name, state.webhook_url)
    _, message = change_phase(
        deps.operations,
        subject,
        phase=phases.HEALTH_CHECK,
        event_type=notifications.HEALTH_CHECK_STARTED,
        change_key=f"health:{check_number}",
        now=deps.clock.now(),
        counters={"healthChecks": check_number},
    )

    def result(outcome: str, delay: int) -> HealthResult:
        checked = HealthResult.model_validate(
            {
                "outcome": outcome,
                "delaySeconds": delay,
                "checks": check_number,
                "notification": message,
                "endpoints": carried,
                "instanceName": name,
            }
        )
        logger.info("health checked", extra={"outcome": checked.outcome, "checks": checked.checks})
        return checked

    if port is None and instance is not None and not instance.port_mappings:
        # Nothing exposed: running is all there is to know.
        return result("healthy", 0)
    timeout = (spec.timeoutSeconds if spec and spec.timeoutSeconds else None) or deps.probe_timeout_seconds
    try:
        verdict = judge_health(
            probes,
            timeout=timeout,
            window=probing_window(remaining_seconds()),
            allow_private=deps.allow_private_targets,
            http_get=deps.http_get,
            connect=deps.connect,
            resolve=deps.resolve,
            requested_port=port,
        )
    except UnsafeTarget as refused:
        raise HealthTargetRefused(f"health probe of instance {instance_id} refused: {refused}") from None
    if verdict.healthy:
        return result("healthy", 0)
    if verdict.unreachable and instance is None:
        # No answer at all: the container may be gone. Fail fast if Novita says it stopped.
        carried = _endpoints_of(_running_instance(deps.novita, instance_id))

    remaining = target.deadline - deps.clock.now()
    if remaining <= 0:
        raise AppNeverHealthy(_never_healthy_message(instance_id, check_number, verdict))
    return result(
        "waiting",
        wait_seconds(
            next_health_check_delay(
                interval=deps.interval_seconds,
                remaining=remaining,
                window=target.deadline - target.started_at,
            )
        ),
    )


def probing_window(invocation_left: float | None) -> float | None:
    """Seconds the probes may take in this invocation: what it has left, less the time kept for a
    Novita read after them (an unreachable app) and the answer; None outside an invocation."""
    if invocation_left is None:
        return None
    return max(MIN_PROBING_SECONDS, invocation_left - RESERVED_AFTER_PROBES_SECONDS)


def _refuse_unmapped_port(instance: Instance, port: int) -> None:
    """Fail at once when the running instance maps other ports but not ``port``: waiting would only
    run out the deadline. No mappings at all may be Novita still filling them in: keep waiting then."""
    mapped = [m for m in instance.port_mappings if m.port]
    if not mapped or any(m.port == port for m in mapped):
        return
    ports = ", ".join(f"{m.port}/{m.type}" for m in sorted(mapped, key=lambda m: m.port))
    raise HealthPortNotMapped(
        f"healthCheck.port {port} is not a port of instance {instance.id} (it maps {ports}): "
        "check one of those, or none to check every HTTP port"
    )


def _seen_running(instance_id: str, seen: RunningInstance) -> Instance:
    """The running instance as the last poll carried it (name and port mappings)."""
    return Instance(id=instance_id, status="running", name=seen.name or "", port_mappings=seen.port_mappings)


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


# --- the real probes -----------------------------------------------------------------------------


def http_get_status(session: requests.Session) -> HttpGet:
    """A GET that returns the status code without following redirects or reading a large body."""

    def get(url: str, timeout: float) -> int:
        try:
            with session.get(url, timeout=timeout, allow_redirects=False, stream=True) as response:
                return response.status_code
        except requests.RequestException as exc:
            raise NoAnswer(type(exc).__name__) from None

    return get


def tcp_connect(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def probe_session() -> requests.Session:
    """The probes' session: straight to the instance, never through a proxy from the environment."""
    session = requests.Session()
    session.trust_env = False
    return session
