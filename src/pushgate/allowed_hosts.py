"""Endpoint allow-lists: how an ``allowed_hosts`` entry is read, and what it matches.

Web Push subscriptions and WNS channel URIs are URLs supplied by devices; they
are called only if their host and port are on a list (the SSRF guard). The
registry checks them at registration and the clients before each request, so
both read the entries here: a device the registry takes is one the client calls.

Entries (README, "Configuration"):

- ``host`` — that host, port 443; ``host:port`` — that port;
- ``*.suffix`` or ``*.suffix:port`` — any subdomain of ``suffix``, not ``suffix`` itself;
- an IPv6 address bare (``::1``, port 443) or in brackets (``[::1]``,
  ``[::1]:8443``). A port needs the brackets: ``::1:8443`` is itself an address.

Hosts compare without case and without a trailing dot, and IP addresses by
value (``[0:0::1]`` is ``::1``; an IPv4-mapped IPv6 address is not the IPv4
host). An endpoint's host is its URL's ``hostname`` (brackets stripped).

Only the standard library is imported: the settings check their entries with it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["AllowList", "HostRule", "canonical_host", "host_port", "readable"]

HTTPS_PORT = 443


def canonical_host(host: str) -> str:
    """``host`` as entries and endpoints are compared: lower case, no brackets or trailing
    dot, an IP address in its compressed form."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.rstrip(".")
    if ":" in text or text[-1:].isdigit():  # only these can be IP addresses: names skip the parse
        try:
            return ipaddress.ip_address(text).compressed
        except ValueError:
            pass
    return text


def host_port(host: str, port: int) -> str:
    """``host:port`` for people to read (logs, errors), an IPv6 address in brackets as in a URL
    (RFC 3986 §3.2.2): ``[::1]:8443``, since ``::1:8443`` reads as another address."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return f"[{bare}]:{port}" if ":" in bare else f"{bare}:{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class HostRule:
    """One entry, read: a host (or a domain whose subdomains match) and a port."""

    host: str  # canonical_host's form
    port: int
    suffix: bool  # "*.example.com": subdomains of example.com

    @classmethod
    def parse(cls, entry: str) -> HostRule:
        """:raises ValueError: naming the entry, when it is none of the forms above."""
        text = entry.strip().lower()
        suffix = text.startswith("*.")
        body = text[2:] if suffix else text
        host: str | None
        port: int | None
        if body.count(":") > 1 and not body.startswith("["):  # a bare IPv6 address
            host, port = body, None
        else:
            try:
                parts = urlsplit("//" + body)
                host, port = parts.hostname, parts.port
            except ValueError:
                raise ValueError(f"bad allowed_hosts entry {entry!r}") from None
            if parts.path or parts.query or parts.fragment or parts.username is not None:
                raise ValueError(f"bad allowed_hosts entry {entry!r}: a host, not a URL")
        if not host or "*" in host:
            raise ValueError(f"bad allowed_hosts entry {entry!r}")
        if ":" in host and not _is_ip(host):
            raise ValueError(f"bad allowed_hosts entry {entry!r}: not an IPv6 address")
        if body.startswith("["):
            # urlsplit reads "[::1]x" as ::1 without a port: only a port may follow the bracket.
            after = body.partition("]")[2]
            if ":" not in host or (after and not after.startswith(":")):
                raise ValueError(f"bad allowed_hosts entry {entry!r}: \"[IPv6]\" or \"[IPv6]:port\"")
        host = canonical_host(host)
        if suffix and _is_ip(host):
            raise ValueError(f"bad allowed_hosts entry {entry!r}: *. takes a domain, not an address")
        return cls(host, HTTPS_PORT if port is None else port, suffix)

    def matches(self, host: str, port: int) -> bool:
        """``host`` in :func:`canonical_host`'s form."""
        if port != self.port:
            return False
        return host.endswith("." + self.host) if self.suffix else host == self.host


def readable(entry: str) -> bool:
    """Whether :meth:`HostRule.parse` takes ``entry``."""
    try:
        HostRule.parse(entry)
    except ValueError:
        return False
    return True


class AllowList:
    """The hosts an endpoint may point at (see the module docstring for the entries).

    :raises ValueError: an entry cannot be read (the message names it).
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(entries)
        self._rules = tuple(HostRule.parse(entry) for entry in self.entries)

    @classmethod
    def readable(cls, entries: Iterable[str]) -> AllowList:
        """The entries that can be read, the others left out (they allow nothing): for lists
        stored before entries were checked, where refusing everything would be worse."""
        return cls(entry for entry in entries if readable(entry))

    def allows(self, host: str, port: int) -> bool:
        name = canonical_host(host)
        return any(rule.matches(name, port) for rule in self._rules)

    def __repr__(self) -> str:
        return f"AllowList({list(self.entries)!r})"
