"""Is the instance's application answering? Probes and the verdict (LESSONS 14).

* HTTP ports get a GET that must answer **2xx**; redirects are not followed and do not count, and the
  body is not read for words.
* TCP ports get a TCP connect, never an HTTP request.
* Each probe is bounded by its own timeout.
* The outbound guard refuses loopback, private, link-local (cloud metadata), multicast and reserved
  addresses unless private targets are allowed (local runs).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from novita_orchestrator.novita.models import Instance, PortMapping

if TYPE_CHECKING:  # requests is imported where it is used: not needed to import this module
    import requests

HttpGet = Callable[[str, float], int]
TcpConnect = Callable[[str, int, float], None]
Resolve = Callable[[str], list[str]]


class UnsafeTarget(Exception):
    """The address is not public and private targets are not allowed."""


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


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeTarget(f"{host} does not resolve: {exc.strerror}") from None
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_target_allowed(host: str, *, allow_private: bool, resolve: Resolve = resolve_host) -> None:
    """Raise :class:`UnsafeTarget` unless every address of ``host`` is public (or private is allowed)."""
    if allow_private:
        return
    if not host:
        raise UnsafeTarget("the target has no host")
    for address in resolve(host):
        if not is_public_address(address):
            raise UnsafeTarget(
                f"{host} resolves to {address}, a loopback/private/link-local address; "
                "set ALLOW_PRIVATE_NETWORK_TARGETS=true to allow it (local runs only)"
            )


def http_get_status(session: requests.Session) -> HttpGet:
    """A GET that returns the status code without following redirects or reading a large body."""

    def get(url: str, timeout: float) -> int:
        with session.get(url, timeout=timeout, allow_redirects=False, stream=True) as response:
            return response.status_code

    return get


def tcp_connect(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def run_probe(
    probe: Probe,
    *,
    timeout: float,
    allow_private: bool,
    http_get: HttpGet,
    connect: TcpConnect = tcp_connect,
    resolve: Resolve = resolve_host,
) -> ProbeResult:
    """One probe; raises :class:`UnsafeTarget` when the guard refuses its address."""
    check_target_allowed(probe.host, allow_private=allow_private, resolve=resolve)
    if probe.kind == "http":
        import requests

        try:
            status = http_get(probe.target, timeout)
        except requests.RequestException as exc:
            return ProbeResult(probe, False, f"no answer ({type(exc).__name__})", reached=False)
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
    connect: TcpConnect = tcp_connect,
    resolve: Resolve = resolve_host,
    requested_port: int | None = None,
) -> HealthVerdict:
    """Healthy when there is something to probe and every probe passes."""
    if not probes:
        what = f"port {requested_port}" if requested_port is not None else "any port"
        return HealthVerdict(False, (), waiting_for=f"no endpoint for {what} yet")
    results = tuple(
        run_probe(
            probe,
            timeout=timeout,
            allow_private=allow_private,
            http_get=http_get,
            connect=connect,
            resolve=resolve,
        )
        for probe in probes
    )
    return HealthVerdict(all(r.healthy for r in results), results)
