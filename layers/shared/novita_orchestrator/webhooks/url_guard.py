"""Outbound URL guard (SSRF): where a webhook may be sent.

A URL passes when it is ``https`` (``http`` only with ALLOW_PRIVATE_NETWORK_TARGETS, for local
receivers), its host is on the optional allow-list, and **every** address the host resolves to is
public. It is checked when a request names the URL and again right before each delivery, since a
name can be re-pointed at a private address in between (DNS rebinding). ALLOW_PRIVATE_NETWORK_TARGETS
lets loopback / private / link-local addresses through; cloud metadata endpoints are refused always.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from novita_orchestrator.settings import Settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
"""(host, port) -> the IP addresses it resolves to; raises OSError when it does not resolve."""

# Instance metadata / credential endpoints of AWS (IPv4, IPv6, ECS), GCP/Azure (same IPv4), Alibaba.
METADATA_ADDRESSES: frozenset[IpAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23", "100.100.100.200")
)
_METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})


class UnsafeWebhookUrl(ValueError):
    """The URL may not be called; the message says why (it never contains the URL's path or query)."""


class UnresolvableWebhookHost(OSError):
    """The host does not resolve now (possibly a passing DNS failure)."""


@dataclass(frozen=True)
class UrlPolicy:
    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(
            allow_private=settings.ALLOW_PRIVATE_NETWORK_TARGETS,
            allowed_hosts=parse_allowed_hosts(settings.WEBHOOK_ALLOWED_HOSTS),
        )


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def parse_allowed_hosts(text: str | None) -> frozenset[str]:
    return frozenset(part.strip().lower().rstrip(".") for part in (text or "").split(",") if part.strip())


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def check_webhook_url(url: str, policy: UrlPolicy, resolver: Resolver = system_resolver) -> CheckedUrl:
    """The URL with its resolved addresses, or UnsafeWebhookUrl / UnresolvableWebhookHost."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeWebhookUrl("the webhook URL is malformed") from None
    scheme = parts.scheme.lower()
    allowed_schemes = {"https", "http"} if policy.allow_private else {"https"}
    if scheme not in allowed_schemes:
        raise UnsafeWebhookUrl(f"webhook URLs must use https, not {scheme or 'no scheme'!r}")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UnsafeWebhookUrl("the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("webhook URLs may not carry credentials")
    if policy.allowed_hosts and not host_allowed(host, policy.allowed_hosts):
        raise UnsafeWebhookUrl(f"webhook host {host!r} is not in WEBHOOK_ALLOWED_HOSTS")
    if host in _METADATA_HOSTNAMES:
        raise UnsafeWebhookUrl(f"webhook host {host!r} is a cloud metadata endpoint")
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = resolver(host, port)
    except OSError as exc:
        raise UnresolvableWebhookHost(f"webhook host {host!r} does not resolve: {exc}") from None
    if not addresses:
        raise UnresolvableWebhookHost(f"webhook host {host!r} resolves to no address")
    for address in addresses:
        refusal = address_refusal(address, policy.allow_private)
        if refusal:
            raise UnsafeWebhookUrl(f"webhook host {host!r} resolves to {refusal} address {address}")
    return CheckedUrl(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    for entry in allowed:
        if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
            return True
        if host == entry:
            return True
    return False


def address_refusal(address: str, allow_private: bool) -> str | None:
    """Why the address may not be called ('metadata', 'private', ...), or None when it may."""
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
