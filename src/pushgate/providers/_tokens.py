"""Checks the providers' device-token validators share: endpoint URLs, base64url.

Endpoints (Web Push subscriptions, WNS channel URIs) are URLs a worker will
POST to; accepting any URL would let whoever registers a device make the
server request internal addresses (SSRF). They must be ``https`` on a host
of an allow-list, read as the clients read it (:mod:`pushgate.allowed_hosts`:
"host", "host:port", "*.suffix", IPv6 as "::1" or "[::1]:8443").
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from pushgate.allowed_hosts import AllowList
from pushgate.providers._spec import TokenError

__all__ = ["MAX_URL_LENGTH", "DisallowedHost", "b64url", "b64url_decode", "check_endpoint", "host_allowed"]

# A choice, not a provider limit: real endpoints are a few hundred characters.
MAX_URL_LENGTH = 2048

_B64URL_RE = re.compile(r"[A-Za-z0-9_\-]+={0,2}")


class DisallowedHost(TokenError):
    """An endpoint on a host that is not on the allow-list; ``host`` is its ``host[:port]``.

    Its own class so a caller that knows how the list is configured (the server:
    ``providers.<name>.allowed_hosts``) can say how to allow the host.
    """

    def __init__(self, field: str, host: str) -> None:
        super().__init__(field, f"host {host!r} is not an allowed push service")
        self.host = host


def host_allowed(host: str, port: int, allowed: Iterable[str]) -> bool:
    """Whether ``host:port`` (a URL's ``hostname``, brackets stripped or not) matches an entry."""
    return _allow_list(tuple(allowed)).allows(host, port)


@functools.lru_cache(maxsize=256)
def _allow_list(entries: tuple[str, ...]) -> AllowList:
    # Read once per list, not per registration. An entry that cannot be read allows
    # nothing rather than failing every registration: settings and credentials check
    # theirs when they are given, but rows stored before that check may hold one.
    return AllowList.readable(entries)


def check_endpoint(url: str, allowed_hosts: Iterable[str], field: str) -> str:
    """An https URL without credentials whose host:port is on the allow-list.

    :raises TokenError: naming ``field`` (:class:`DisallowedHost` for a host not on the list).
    """
    if len(url) > MAX_URL_LENGTH:
        raise TokenError(field, f"longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise TokenError(field, "not a valid URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise TokenError(field, "must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise TokenError(field, "must not carry credentials")
    if not host_allowed(parts.hostname, port, allowed_hosts):
        raise DisallowedHost(field, parts.netloc)
    return url


def b64url_decode(value: str, field: str) -> bytes:
    """base64url, padded or not (browsers omit padding; some libraries add it)."""
    text = value.strip()
    if not _B64URL_RE.fullmatch(text):
        raise TokenError(field, "not base64url")
    bare = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise TokenError(field, "not base64url") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
