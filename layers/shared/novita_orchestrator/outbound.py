"""The one outbound address policy (SSRF guard) for every call to a host a caller or Novita names:
webhook deliveries and health probes alike.

An address may be called when it is public (global unicast). ``allow_private``
(ALLOW_PRIVATE_NETWORK_TARGETS, for local runs) also lets loopback, private, link-local and shared
(CGNAT) addresses through. Cloud metadata and credential endpoints are refused always, by address
and by name, whatever the setting: reaching them from a Lambda would hand out its credentials.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
"""(host, port) -> the IP addresses it resolves to; raises OSError when it does not resolve."""

# Instance metadata / credential endpoints of AWS (IPv4, IPv6, ECS), GCP/Azure (same IPv4), Alibaba.
METADATA_ADDRESSES: frozenset[IpAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23", "100.100.100.200")
)
METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def address_refusal(address: str, *, allow_private: bool) -> str | None:
    """Why the address may not be called ('a cloud metadata', 'a private, ...'), or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "an unparsable"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata"
    if ip.is_multicast or ip.is_unspecified:
        return "a non-unicast"
    if ip.is_global:
        return None
    # Loopback, private, link-local, shared (CGNAT), reserved: not on the public internet.
    return None if allow_private else "a private, loopback or link-local"


def hostname_refusal(host: str) -> str | None:
    """Why a host *name* may not be called (a metadata service's name), or None."""
    return "a cloud metadata endpoint" if host.lower().rstrip(".") in METADATA_HOSTNAMES else None


class Refused(Exception):
    """The host, or one address it resolves to, may not be called (:attr:`reason` says why)."""

    def __init__(self, host: str, address: str | None, reason: str, *, private_only: bool) -> None:
        super().__init__(f"{host} {f'resolves to {address}, ' if address else 'is '}{reason}")
        self.host = host
        self.address = address
        self.reason = reason
        #: True when ALLOW_PRIVATE_NETWORK_TARGETS would allow it (a loopback/private/link-local address).
        self.private_only = private_only


class DoesNotResolve(OSError):
    """The host does not resolve now (possibly a passing DNS failure)."""


def checked_addresses(host: str, port: int, *, allow_private: bool, resolve: Resolver) -> list[str]:
    """Every address ``host`` resolves to, when each may be called; :class:`Refused` or
    :class:`DoesNotResolve` otherwise. One private address among public ones is enough to refuse."""
    named = hostname_refusal(host)
    if named:
        raise Refused(host, None, named, private_only=False)
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        raise DoesNotResolve(f"{host} does not resolve ({type(exc).__name__}: {exc})") from None
    if not addresses:
        raise DoesNotResolve(f"{host} resolves to no address")
    for address in addresses:
        refusal = address_refusal(address, allow_private=allow_private)
        if refusal:
            private_only = address_refusal(address, allow_private=True) is None
            raise Refused(host, address, f"{refusal} address", private_only=private_only)
    return addresses
