"""The outbound URL guard: https, public addresses only (checked at delivery too), allow-list."""

from __future__ import annotations

import pytest

from novita_orchestrator.webhooks.url_guard import (
    UnresolvableWebhookHost,
    UnsafeWebhookUrl,
    UrlPolicy,
    check_webhook_url,
)

STRICT = UrlPolicy()
LOCAL = UrlPolicy(allow_private=True)


def resolving(*addresses: str):
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def test_public_https_url_passes() -> None:
    checked = check_webhook_url("https://hooks.example.com/x?token=1", STRICT, resolving("93.184.216.34"))
    assert (checked.host, checked.port, checked.addresses) == ("hooks.example.com", 443, ("93.184.216.34",))


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/x", "ftp://hooks.example.com/", "hooks.example.com"]
)
def test_only_https_when_private_targets_are_not_allowed(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match="https"):
        check_webhook_url(url, STRICT, resolving("93.184.216.34"))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.5",
        "192.168.1.1",
        "169.254.10.10",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::5",
        "::ffff:127.0.0.1",
    ],
)
def test_private_addresses_are_refused_unless_allowed(address: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match="private"):
        check_webhook_url("https://evil.example/", STRICT, resolving(address))
    assert check_webhook_url("https://evil.example/", LOCAL, resolving(address)).addresses == (address,)


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "fd00:ec2::254", "169.254.170.2", "::ffff:169.254.169.254"]
)
def test_metadata_addresses_are_refused_even_when_private_targets_are_allowed(address: str) -> None:
    for policy in (STRICT, LOCAL):
        with pytest.raises(UnsafeWebhookUrl, match="metadata"):
            check_webhook_url("https://meta.example/", policy, resolving(address))


def test_literal_ip_urls_and_metadata_names() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="metadata"):
        check_webhook_url("http://169.254.169.254/latest/meta-data/", LOCAL, lambda h, p: [h])
    with pytest.raises(UnsafeWebhookUrl, match="metadata"):
        check_webhook_url("https://metadata.google.internal/", LOCAL, resolving("8.8.8.8"))


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url("https://mixed.example/", STRICT, resolving("93.184.216.34", "10.0.0.1"))


def test_dns_rebinding_is_caught_by_the_check_at_delivery_time() -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    check_webhook_url("https://rebind.example/", STRICT, rebinding)  # when the request named it
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url("https://rebind.example/", STRICT, rebinding)  # right before delivery


def test_allow_list_with_wildcards() -> None:
    policy = UrlPolicy(allowed_hosts=frozenset({"hooks.example.com", "*.corp.example"}))
    public = resolving("93.184.216.34")
    check_webhook_url("https://HOOKS.example.com./x", policy, public)
    check_webhook_url("https://a.b.corp.example/x", policy, public)
    for url in ("https://other.example.com/", "https://corp.example/", "https://evilcorp.example/"):
        with pytest.raises(UnsafeWebhookUrl, match="WEBHOOK_ALLOWED_HOSTS"):
            check_webhook_url(url, policy, public)


def test_credentials_in_urls_and_unresolvable_hosts() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="credentials"):
        check_webhook_url("https://user:pass@hooks.example.com/", STRICT, resolving("93.184.216.34"))

    def failing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnresolvableWebhookHost):
        check_webhook_url("https://nowhere.example/", STRICT, failing)


def test_refusals_never_echo_the_path_or_query() -> None:
    with pytest.raises(UnsafeWebhookUrl) as caught:
        check_webhook_url("https://evil.example/hook?token=s3cr3t", STRICT, resolving("10.0.0.1"))
    assert "s3cr3t" not in str(caught.value)
