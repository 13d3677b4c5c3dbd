"""Is the instance's application answering? Probes and the verdict (LESSONS 14).

* HTTP ports get a GET that must answer **2xx**; redirects are not followed and do not count, and the
  body is not read for words.
* TCP ports get a TCP connect, never an HTTP request.
* Each probe is bounded by its own timeout; the probes run at once, and the whole probing by the
  time the Lambda invocation has left (CheckHealth passes the window).
* Every address a probe would reach passes the outbound address policy first (:mod:`..outbound`, the
  one webhooks use): loopback, private and link-local only with ALLOW_PRIVATE_NETWORK_TARGETS (local
  runs), cloud metadata never.

The HTTP GET, the TCP connect and the DNS lookup are passed in (the CheckHealth step gives the real
ones), so the verdicts here are decided without I/O of their own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urlsplit

from novita_orchestrator.novita.models import Instance, PortMapping
from novita_orchestrator.outbound import DoesNotResolve, Refused, Resolver, address_refusal, checked_addresses

#: Ports probed at once (an instance exposes a handful; more wait for a free thread).
MAX_CONCURRENT_PROBES = 8

HttpGet = Callable[[str, float], int]
"""(url, timeout) -> the HTTP status; raises :class:`NoAnswer` when nothing answered."""
TcpConnect = Callable[[str, int, float], None]
"""(host, port, timeout) -> None once connected; raises OSError when it could not connect."""


class NoAnswer(Exception):
    """An HTTP probe got no answer at all (refused, reset, timed out); the message names the kind."""


class UnsafeTarget(Exception):
    """The outbound address policy refuses the probe's address (the message says why)."""


@dataclass(frozen=True)
class Probe:
    kind: str  # "http" | "tcp"
    port: int  # the container port
    #: URL (http) or ``host:port`` (tcp).
    target: str

    @property
    def host(self) -> str:
        if self.kind == "http":
            return urlsplit(self.target).hostname or ""
        return _split_host_port(self.target)[0]

    @property
    def target_port(self) -> int:
        """The port the probe connects to (the endpoint's, not the container's)."""
        if self.kind == "tcp":
            return _split_host_port(self.target)[1]
        parts = urlsplit(self.target)
        try:
            port = parts.port
        except ValueError:
            port = None
        return port or (80 if parts.scheme == "http" else 443)


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    healthy: bool
    detail: str
    #: False when nothing answered at all (refused, reset, timed out): the container may be gone.
    #: Any HTTP answer, even 503, shows it is up.
    reached: bool = True


@dataclass(frozen=True)
class HealthVerdict:
    healthy: bool
    results: tuple[ProbeResult, ...]
    #: Why no probe could run at all (no endpoint yet), else None.
    waiting_for: str | None = None

    def summary(self) -> str:
        if self.waiting_for:
            return self.waiting_for
        return "; ".join(f"port {r.probe.port} ({r.probe.kind}): {r.detail}" for r in self.results)

    @property
    def unreachable(self) -> bool:
        """Some probe got no answer at all."""
        return any(not r.reached for r in self.results)


def probes_for(instance: Instance, *, port: int | None = None, path: str = "/") -> list[Probe]:
    """What to probe: the requested port (HTTP GET of ``path``, or TCP connect for a tcp port), else
    every HTTP port mapping (``path`` on each); with no HTTP ports, the TCP ones are connected to."""
    return probes_for_mappings(instance.port_mappings, port=port, path=path)


def probes_for_mappings(
    port_mappings: Sequence[PortMapping], *, port: int | None = None, path: str = "/"
) -> list[Probe]:
    """:func:`probes_for` from port mappings read earlier."""
    mappings = [m for m in port_mappings if m.endpoint]
    if port is not None:
        mappings = [m for m in mappings if m.port == port]
    else:
        http = [m for m in mappings if m.type == "http"]
        mappings = http or mappings
    probes = []
    for mapping in mappings:
        endpoint = (mapping.endpoint or "").strip()
        if mapping.type == "http":
            probes.append(Probe("http", mapping.port, _http_url(endpoint, path)))
        else:
            probes.append(Probe("tcp", mapping.port, endpoint.removeprefix("tcp://").rstrip("/")))
    return probes


def _http_url(endpoint: str, path: str) -> str:
    # Novita's endpoint format is not documented: treat it as opaque, https unless it says otherwise.
    base = endpoint if "://" in endpoint else f"https://{endpoint}"
    return base.rstrip("/") + path


def _split_host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise ValueError(f"not a host:port endpoint: {target!r}")
    return host, int(port)


def is_public_address(address: str) -> bool:
    return address_refusal(address, allow_private=False) is None


def check_target_allowed(host: str, port: int, *, allow_private: bool, resolve: Resolver) -> None:
    """Raise :class:`UnsafeTarget` unless every address of ``host`` may be probed (the outbound
    policy); :class:`~novita_orchestrator.outbound.DoesNotResolve` when it does not resolve."""
    if not host:
        raise UnsafeTarget("the target has no host")
    try:
        checked_addresses(host, port, allow_private=allow_private, resolve=resolve)
    except Refused as refused:
        hint = (
            "set ALLOW_PRIVATE_NETWORK_TARGETS=true to allow it (local runs only)"
            if refused.private_only
            else "refused even with ALLOW_PRIVATE_NETWORK_TARGETS"
        )
        raise UnsafeTarget(f"{refused}; {hint}") from None


def run_probe(
    probe: Probe,
    *,
    timeout: float,
    allow_private: bool,
    http_get: HttpGet,
    connect: TcpConnect,
    resolve: Resolver,
) -> ProbeResult:
    """One probe; raises :class:`UnsafeTarget` when the outbound policy refuses its address."""
    try:
        check_target_allowed(probe.host, probe.target_port, allow_private=allow_private, resolve=resolve)
    except DoesNotResolve as exc:
        return ProbeResult(probe, False, str(exc), reached=False)
    if probe.kind == "http":
        try:
            status = http_get(probe.target, timeout)
        except NoAnswer as exc:
            return ProbeResult(probe, False, f"no answer ({exc})", reached=False)
        if 200 <= status < 300:
            return ProbeResult(probe, True, f"HTTP {status}")
        if 300 <= status < 400:
            return ProbeResult(probe, False, f"HTTP {status} (a redirect is not healthy)")
        return ProbeResult(probe, False, f"HTTP {status}")
    host, port = _split_host_port(probe.target)
    try:
        connect(host, port, timeout)
    except OSError as exc:
        return ProbeResult(probe, False, f"TCP connect failed ({type(exc).__name__})", reached=False)
    return ProbeResult(probe, True, "TCP connect ok")


def judge_health(
    probes: Sequence[Probe],
    *,
    timeout: float,
    allow_private: bool,
    http_get: HttpGet,
    connect: TcpConnect,
    resolve: Resolver,
    requested_port: int | None = None,
    window: float | None = None,
) -> HealthVerdict:
    """Healthy when there is something to probe and every probe passes.

    The probes run at once, each within ``timeout``; with ``window`` (seconds) the whole probing
    ends by then: a probe still running counts as no answer (its thread is left to end on its own
    timeout, which is never longer than the window)."""
    if not probes:
        what = f"port {requested_port}" if requested_port is not None else "any port"
        return HealthVerdict(False, (), waiting_for=f"no endpoint for {what} yet")
    if window is not None:
        timeout = max(0.001, min(timeout, window))
    pool = ThreadPoolExecutor(max_workers=min(len(probes), MAX_CONCURRENT_PROBES))
    try:
        futures = [
            # Each probe in a copy of this context: what the caller's thread sees, its thread sees.
            pool.submit(
                contextvars.copy_context().run,
                run_probe,
                probe,
                timeout=timeout,
                allow_private=allow_private,
                http_get=http_get,
                connect=connect,
                resolve=resolve,
            )
            for probe in probes
        ]
        wait(futures, timeout=window)
        results = tuple(
            _result_of(future, probe, window) for future, probe in zip(futures, probes, strict=True)
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return HealthVerdict(all(r.healthy for r in results), results)


def _result_of(future: Future[ProbeResult], probe: Probe, window: float | None) -> ProbeResult:
    if future.done():
        return future.result()  # re-raises UnsafeTarget
    return ProbeResult(probe, False, f"no answer within the {window:.1f} s left for probing", reached=False)
