"""The SSRF guard: which addresses are public, which URLs are refused, the allow-list, and
the pinned address/Host/SNI a delivery connects with. (Literal IPs and `localhost` only:
no lookup leaves this machine.)"""

from __future__ import annotations

import ipaddress

import pytest

from mercato.payments.config import MerchantWebhookSettings
from mercato.payments.merchant_webhooks import (
    InvalidTarget,
    TargetPolicy,
    TargetRefused,
    resolve_target,
)
from mercato.payments.merchant_webhooks.targets import is_public_address

NO_EXCEPTIONS = TargetPolicy()

INTERNAL = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (CGNAT)
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",  # site-local
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", INTERNAL)
async def test_urls_to_internal_literals_are_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(TargetRefused):
        await resolve_target(f"https://{host}:8443/hook", policy=NO_EXCEPTIONS)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hook",
        "http://LOCALHOST./hook",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
        "http://127.1/",
    ],
)
async def test_names_and_odd_forms_that_resolve_to_loopback_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await resolve_target(url, policy=NO_EXCEPTIONS)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.215.14/x", "http and https"),
        ("file:///etc/passwd", "http and https"),
        ("gopher://93.184.215.14:70/", "http and https"),
        ("https://user:pass@93.184.215.14/hook", "credentials"),
        ("https://token@93.184.215.14/hook", "credentials"),
        ("http:///hook", "no host"),
        ("not a url", "http and https"),
    ],
)
async def test_odd_schemes_credentials_and_hostless_urls_are_invalid(url: str, reason: str) -> None:
    with pytest.raises(InvalidTarget, match=reason):
        await resolve_target(url, policy=NO_EXCEPTIONS)


async def test_a_public_literal_is_pinned_as_is() -> None:
    target = await resolve_target("https://93.184.215.14/hook?x=1", policy=NO_EXCEPTIONS)
    assert target.address == ipaddress.ip_address("93.184.215.14")
    assert str(target.connect_url) == "https://93.184.215.14/hook?x=1"
    assert target.sni_hostname is None


async def test_the_allow_list_permits_networks_and_host_names() -> None:
    settings = MerchantWebhookSettings(allowed_private_targets=("127.0.0.0/8", "::1/128"))
    policy = TargetPolicy.from_entries(settings.allowed_private_targets)
    target = await resolve_target("https://localhost:8443/hook", policy=policy)
    assert target.address.is_loopback
    assert target.host_header == "localhost:8443"
    assert target.sni_hostname == "localhost"
    assert target.connect_url.host == str(target.address)
    assert target.connect_url.port == 8443

    by_name = TargetPolicy.from_entries(("localhost",))
    assert (await resolve_target("http://localhost/", policy=by_name)).address.is_loopback
    with pytest.raises(TargetRefused):  # the name, not what else resolves to loopback
        await resolve_target("http://127.0.0.1/", policy=by_name)


async def test_the_allow_list_matches_the_ipv4_inside_a_mapped_address() -> None:
    policy = TargetPolicy.from_entries(("127.0.0.0/8",))
    target = await resolve_target("http://[::ffff:127.0.0.1]:9000/", policy=policy)
    assert str(target.connect_url) == "http://[::ffff:7f00:1]:9000/"
    assert target.host_header == "[::ffff:127.0.0.1]:9000"


def test_the_allow_list_setting_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="CIDR or a host name"):
        MerchantWebhookSettings(allowed_private_targets=("not a host!",))
    with pytest.raises(ValueError, match="15"):
        MerchantWebhookSettings(timeout_s=30)
