"""The webhooks' HTTP client: httpx, connecting only to addresses the SSRF rules allow.

httpx resolves and connects inside its connection pool, after any check a
caller could make on the URL, so a check before the request would not stop
a DNS rebinding (the name answers a public address to the check and
loopback to the connection). Instead the pool's network backend (httpcore's
``AsyncNetworkBackend``, the hook httpcore provides for exactly this:
https://www.encode.io/httpcore/network-backends/) resolves the host itself,
refuses the connection unless every address passes
:meth:`~pushgate.service.webhook_guard.AddressPolicy.addresses`, and opens
the TCP connection to the checked address. TLS still runs against the URL's
host name — httpcore passes the origin's host as ``server_hostname`` — so
SNI and certificate verification are those of the name, not the address.

Each new connection goes through the backend; a pooled connection is one
to an address already checked. Redirects are not followed
(``follow_redirects=False``: a 3xx is a failure), proxies from the
environment are ignored (``trust_env=False``: a proxy would connect for us,
unchecked), and timeouts are short.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from pushgate.service.webhook_guard import AddressPolicy, Resolver, UnsafeURL, system_resolver

DEFAULT_TIMEOUT = 10.0


class RefusedAddress(httpcore.ConnectError):
    """The host resolved to an address the SSRF rules refuse (httpx raises it as ConnectError)."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses (module docstring)."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.policy.addresses(host, port, self.resolver)
        except UnsafeURL as exc:
            raise RefusedAddress(str(exc)) from None
        failure: Exception | None = None
        for address in addresses:  # happy eyeballs is not needed for a webhook: in order
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses() never answers an empty list
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("webhooks are not sent to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose connections go through :class:`GuardedBackend`.

    httpx builds its httpcore pool in its constructor without a way to pass a
    network backend, so the pool is replaced by one built the same way with
    ours (HTTP/1.1; webhooks send one request at a time).
    """

    def __init__(self, policy: AddressPolicy, *, verify: ssl.SSLContext,
                 resolver: Resolver = system_resolver) -> None:
        super().__init__(verify=verify, trust_env=False, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify, max_connections=10, max_keepalive_connections=2, keepalive_expiry=30.0,
            http1=True, http2=False, retries=0, network_backend=GuardedBackend(policy, resolver),
        )


def webhook_client(
    policy: AddressPolicy, *, ca_file: str | None = None, timeout: float = DEFAULT_TIMEOUT,
    resolver: Resolver = system_resolver,
) -> httpx.AsyncClient:
    """An httpx client for webhook deliveries: guarded connections, no redirects, short timeouts."""
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, verify=context, resolver=resolver),
        follow_redirects=False, trust_env=False,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
    )


__all__ = ["GuardedBackend", "GuardedTransport", "RefusedAddress", "webhook_client"]
