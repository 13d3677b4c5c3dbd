"""Outbound URL guard (SSRF): where a webhook may be sent.

A URL passes when it is ``https`` (``http`` only with ALLOW_PRIVATE_NETWORK_TARGETS, for local
receivers), its host is on the optional allow-list, and **every** address the host resolves to passes
the outbound address policy (:mod:`novita_orchestrator.outbound`, the one health probes use too:
public only, loopback / private / link-local with ALLOW_PRIVATE_NETWORK_TARGETS, cloud metadata
never). It is checked when a request names the URL and again right before each delivery, since a
name can be re-pointed at a private address in between (DNS rebinding).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from novita_orchestrator.outbound import DoesNotResolve, Refused, Resolver, checked_addresses, system_resolver
from novita_orchestrator.settings import OutboundSettings


class UnsafeWebhookUrl(ValueError):
    """The URL may not be called; the message says why (it never contains the URL's path or query)."""


class UnresolvableWebhookHost(OSError):
    """The host does not resolve now (possibly a passing DNS failure)."""


@dataclass(frozen=True)
class UrlPolicy:
    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: OutboundSettings) -> UrlPolicy:
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
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = checked_addresses(host, port, allow_private=policy.allow_private, resolve=resolver)
    except Refused as refused:
        raise UnsafeWebhookUrl(f"webhook host {refused}") from None
    except DoesNotResolve as error:
        raise UnresolvableWebhookHost(f"webhook host {error}") from None
    return CheckedUrl(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    for entry in allowed:
        if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
            return True
        if host == entry:
            return True
    return False
