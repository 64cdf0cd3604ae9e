"""Where a merchant webhook may be sent (SSRF guard), and the address it is pinned to.

A merchant chooses the URL, so without a guard our servers would POST wherever it points:
the cloud metadata service, an admin port on localhost, the database's network. Rules:

- only `http`/`https`, a host, no credentials in the URL;
- every A/AAAA record of the host must be public: private, loopback, link-local, shared
  (CGNAT), multicast, reserved, unspecified and site-local addresses are refused, and so
  are the IPv6 forms that embed such an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, 6to4
  `2002::/16`, NAT64 `64:ff9b::/96`);
- unless the allow-list (`MerchantWebhookSettings.allowed_private_targets`: CIDRs or host
  names) permits them: development receivers and tests on 127.0.0.1;
- the connection goes to the address that was checked (`ResolvedTarget.address`), with the
  original host in the `Host` header and as TLS SNI/certificate name, so a DNS answer that
  changes between the check and the connection (rebinding) changes nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import httpx

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
_NAT64 = IPv6Network("64:ff9b::/96")


class TargetError(Exception):
    """A webhook URL we will not send to; the text names the reason, never a secret."""


class InvalidTarget(TargetError):
    """The URL itself is unusable (scheme, credentials, no host): no retry can help."""


class TargetRefused(TargetError):
    """The host resolves to an address the SSRF guard refuses."""


class TargetUnresolvable(TargetError):
    """The host does not resolve (DNS may recover: worth a retry)."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """The SSRF allow-list: networks and host names that may be private."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_entries(cls, entries: tuple[str, ...]) -> TargetPolicy:
        """From the settings' entries: each a CIDR/address or a host name."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def permits(self, address: IPAddress, *, host: str) -> bool:
        if host in self.allowed_hosts:
            return True
        forms = [address]
        if isinstance(address, IPv6Address) and (embedded := embedded_ipv4(address)):
            forms.append(embedded)
        return any(form in network for form in forms for network in self.allowed_networks)


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A checked URL and the address to connect to."""

    url: httpx.URL  # as the merchant gave it
    address: IPAddress  # the checked address the connection goes to

    @property
    def connect_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address."""
        return self.url.copy_with(host=str(self.address))

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")

    @property
    def sni_hostname(self) -> str | None:
        """The name TLS sends and checks the certificate against (None for IP literals)."""
        if self.url.scheme != "https" or _is_ip_literal(self.url.host):
            return None
        return self.url.host


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """True for an address on the public internet; False for anything internal or special
    (Teredo and other tunnels are refused outright)."""
    if isinstance(address, IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def parse_target_url(url: str) -> httpx.URL:
    """The URL if its shape is acceptable (also for checking it when it is registered)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise InvalidTarget("not a URL") from None
    if parsed.scheme not in {"http", "https"}:
        raise InvalidTarget("only http and https targets are allowed")
    if parsed.userinfo:
        raise InvalidTarget("credentials in the URL are not allowed")
    if not parsed.host:
        raise InvalidTarget("the URL has no host")
    return parsed


async def resolve_target(url: str, *, policy: TargetPolicy) -> ResolvedTarget:
    """Check the URL, resolve its host (every A/AAAA record) and pick the address to
    connect to. Raises `InvalidTarget`, `TargetUnresolvable` or `TargetRefused`."""
    parsed = parse_target_url(url)
    host = parsed.host.lower().rstrip(".")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        records = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as error:
        raise TargetUnresolvable(f"the host does not resolve ({type(error).__name__})") from None
    addresses: list[IPAddress] = []
    for record in records:
        literal = str(record[4][0]).split("%", 1)[0]  # an IPv6 scope id is not an address
        address = ipaddress.ip_address(literal)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise TargetUnresolvable("the host has no address")
    for address in addresses:
        if not is_public_address(address) and not policy.permits(address, host=host):
            raise TargetRefused("the host resolves to a private or reserved address")
    return ResolvedTarget(url=parsed, address=addresses[0])


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
