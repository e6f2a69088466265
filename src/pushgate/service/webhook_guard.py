"""Which addresses a webhook may reach: the SSRF rules (docs/webhooks.md §6).

A webhook URL is chosen by whoever holds an app's API key, and the workers
then make requests to it from inside the deployment. Without rules that is a
server-side request forgery: a URL naming ``127.0.0.1``, a database on the
private network or the cloud metadata service (``169.254.169.254``, on AWS
also ``fd00:ec2::254``) would make pushgate call them. So:

- the scheme is ``https`` (``http`` only for hosts on the allow-list), with
  no user name or password in the URL;
- every address the host resolves to must be a global unicast address:
  loopback, private (RFC 1918, RFC 4193), link-local (RFC 3927, RFC 4291
  §2.5.6), shared (RFC 6598), multicast, reserved, unspecified and
  documentation ranges are refused (Python's ``ipaddress.is_global`` holds
  the IANA special-purpose registries, RFC 6890); an IPv4-mapped IPv6
  address is judged as the IPv4 address it maps;
- the check runs when the URL is stored and again on every connection, on
  the addresses the connection then uses (:mod:`pushgate.workers.webhook_http`
  connects to the checked address itself), so a name that resolves to a
  public address at validation and to loopback a second later (DNS
  rebinding) is refused at connect time;
- redirects are never followed.

``webhook_allow_hosts`` (settings) names exceptions for tests and private
deployments: a host name (exactly, any port: its addresses are not checked
and ``http`` is allowed) or an address or network in CIDR notation
(``10.0.0.0/8``, ``::1``: those addresses are allowed whatever name leads
to them).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses a connection may use, as text. Injectable: tests resolve
# names their own way (a DNS rebinding is a resolver that changes its answer).
Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_URL_LENGTH = 2000

# Cloud metadata services, named in the refusal: most are link-local already.
_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                       ipaddress.ip_address("100.100.100.200")})


class UnsafeURL(ValueError):
    """A webhook URL, or an address it leads to, that the SSRF rules refuse (the message says why)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (``getaddrinfo``), in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """The SSRF rules plus the allow-list of ``webhook_allow_hosts``."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> AddressPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip().strip("[]")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                hosts.add(text.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def refusal(self, address: str) -> str | None:
        """What kind of address ``address`` is when a connection to it is refused, else None."""
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return "not an IP address"
        if any(ip in network for network in self.networks):
            return None
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        return _kind(mapped if mapped is not None else ip)

    async def check_url(self, url: str, resolver: Resolver = system_resolver) -> str:
        """``url`` if it may be stored as a webhook; raises :class:`UnsafeURL` saying why not."""
        host, port = self.parse(url)
        if not self.host_allowed(host):
            await self.addresses(host, port, resolver)
        return url

    def parse(self, url: str) -> tuple[str, int]:
        """The URL's host and port, once its form is acceptable (scheme, no credentials)."""
        if len(url) > MAX_URL_LENGTH:
            raise UnsafeURL(f"longer than {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UnsafeURL(f"not a valid URL: {exc}") from None
        host = parts.hostname
        if parts.scheme not in ("https", "http") or not host:
            raise UnsafeURL("must be an absolute https:// URL")
        if parts.scheme == "http" and not self.host_allowed(host):
            raise UnsafeURL("must use https (http only for hosts in webhook_allow_hosts)")
        if parts.username is not None or parts.password is not None:
            raise UnsafeURL("must not carry a user name or password")
        if parts.fragment:
            raise UnsafeURL("must not have a #fragment")
        return host, port or (443 if parts.scheme == "https" else 80)

    async def addresses(self, host: str, port: int, resolver: Resolver = system_resolver) -> list[str]:
        """The addresses ``host`` resolves to, all of them allowed; else :class:`UnsafeURL`.

        Every address must pass, not just the first: a name with one public and
        one loopback record would otherwise reach loopback on a retry.
        """
        if self.host_allowed(host):
            return await resolver(host, port)
        try:
            found = await resolver(host, port)
        except OSError as exc:
            raise UnsafeURL(f"{host} does not resolve ({exc.strerror or exc})") from None
        if not found:
            raise UnsafeURL(f"{host} does not resolve")
        for address in found:
            kind = self.refusal(address)
            if kind is not None:
                shown = f"{address} is" if address == host.strip("[]") else f"{host} resolves to {address},"
                raise UnsafeURL(f"{shown} {kind}; webhooks may only reach public addresses")
        return found


def _kind(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is, or None for a global unicast address."""
    if ip in _METADATA:
        return "a cloud metadata address"
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
    )
    for matched, kind in checks:
        if matched:
            return kind
    return None if ip.is_global else "not a public address"


__all__ = ["AddressPolicy", "Resolver", "UnsafeURL", "system_resolver"]
