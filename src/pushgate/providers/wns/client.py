"""The WNS client: Windows Push Notification Services (docs/protocols/wns.md).

WNS speaks HTTP/1.1 only, with no chunking or pipelining and no
``Expect: 100-continue`` (docs/protocols/wns.md §1 and §3.1), so requests go over up to
``max_connections`` keep-alive connections, one request at a time each
(:mod:`pushgate.providers.wns.lanes` says why each connection is its own
``httpx.AsyncClient``); httpx sends a ``Content-Length`` for every body and
never asks for 100-continue. The token is the channel URI itself: the full
URL the notification is POSTed to.

A channel URI is an address supplied by a device, so it is only used if it is
``https`` and its host is on the allow-list (default ``*.notify.windows.com``,
port 443); anything else gives a FAILED result (cause REQUEST, reason
``DisallowedEndpoint``) without a request: it is that device's address that
is refused, so only that device fails.

Outcomes are classified in :mod:`pushgate.providers.wns.outcomes`.

With ``request_for_status=True`` a SENT result's ``detail`` is the
``X-WNS-DeviceConnectionStatus`` (``connected``, ``disconnected``,
``tempconnected``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypedDict, Unpack
from urllib.parse import urlsplit

import httpx

from pushgate.allowed_hosts import AllowList
from pushgate.errors import AuthenticationError, ConfigurationError, RetryableError, TransportError
from pushgate.notification import Notification, Priority
from pushgate.providers._base import Provider
from pushgate.providers._tls import certificate_outcome
from pushgate.providers.wns.auth import WNSAuth
from pushgate.providers.wns.lanes import Lanes
from pushgate.providers.wns.outcomes import classify
from pushgate.providers.wns.payload import WNSPayload, build_payload
from pushgate.providers.wns.spec import DEFAULT_HOSTS
from pushgate.results import Cause, Status, TokenResult
from pushgate.transport.tls import client_context

logger = logging.getLogger("pushgate.wns")

DEFAULT_ALLOWED_HOSTS = DEFAULT_HOSTS  # the list is part of the provider spec
USER_AGENT = "pushgate-wns"
KEEPALIVE_EXPIRY = 30.0  # seconds an idle connection is kept


class ProviderOptions(TypedDict, total=False):
    """The bulk engine's options (see :class:`Provider`)."""

    concurrency: int
    max_retries: int
    retry_backoff: float
    max_retry_delay: float
    max_payload_size: int | None
    default_ttl: int | None
    default_priority: Priority | None


@dataclass(slots=True)
class WNSPrepared:
    """A built payload, plus the channels whose last attempt with it got a 401."""

    payload: WNSPayload
    unauthorized: set[str] = field(default_factory=set)


class WNS(Provider[str, WNSPrepared]):
    """Send to WNS channel URIs.

    :param client_id: Package SID (``ms-app://s-1-15-2-…``) or, with
        ``tenant_id``, the Entra application id.
    :param client_secret: its secret (never logged or shown).
    :param tenant_id: selects the Windows App SDK (Entra ID) token flow.
    :param token_url: the token endpoint, for a simulator or proxy.
    :param base_url: WNS served elsewhere (a simulator, a proxy): its host is
        allowed for channel URIs, and the access token comes from it
        (``/accesstoken.srf``, or ``/{tenant}/oauth2/v2.0/token`` with
        ``tenant_id``) unless ``token_url`` is given.
    :param allowed_hosts: more channel URI hosts that may be called, beside
        Microsoft's (``*.notify.windows.com``): ``"host"`` (port 443),
        ``"host:port"``, ``"*.suffix"``, IPv6 as ``"::1"`` or ``"[::1]:8443"``
        (:mod:`pushgate.allowed_hosts`).
    :param ssl_context: the client TLS context (ALPN http/1.1); else one
        trusting ``ca_file`` or the system store.
    :param max_connections: HTTP/1.1 connections kept (capped at concurrency).
    :param request_timeout: seconds for connect, write and read of a request.
    :param request_for_status: ask WNS for the device connection status.
    :param clock: epoch seconds, for token expiry and TTLs (injectable).
    """

    name: ClassVar[str] = "wns"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        tenant_id: str | None = None,
        token_url: str | None = None,
        allowed_hosts: Iterable[str] | None = None,
        base_url: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | Path | None = None,
        max_connections: int = 100,
        request_timeout: float = 30.0,
        request_for_status: bool = False,
        clock: Callable[[], float] = time.time,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        # Added to Microsoft's hosts, not replacing them (as for Web Push).
        hosts = (*DEFAULT_ALLOWED_HOSTS, *(allowed_hosts or ()))
        if base_url is not None:
            base = base_url.rstrip("/")
            netloc = urlsplit(base).netloc
            if not netloc:
                raise ValueError(f"base_url {base_url!r} is not a URL such as https://wns.example.net")
            hosts = (*hosts, netloc)
            if token_url is None:
                token_url = f"{base}/{{tenant}}/oauth2/v2.0/token" if tenant_id else f"{base}/accesstoken.srf"
        try:
            self._allowed = AllowList(hosts)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self.request_for_status = request_for_status
        self._clock = clock
        if ssl_context is None:
            ssl_context = client_context(ca_file=ca_file, alpn=("http/1.1",))
        connections = max(1, min(max_connections, self.concurrency))
        timeout = httpx.Timeout(request_timeout)
        headers = {"user-agent": USER_AGENT}

        def lane() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                http1=True, http2=False, verify=ssl_context, timeout=timeout, headers=headers,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1,
                                    keepalive_expiry=KEEPALIVE_EXPIRY),
                follow_redirects=False,
            )

        self._lanes = Lanes(lane, connections)
        self._token_http = lane()  # the token endpoint is another host: its own connection
        self.auth = WNSAuth(
            client_id=client_id, client_secret=client_secret, tenant_id=tenant_id,
            token_url=token_url, http=self._token_http, clock=clock,
        )

    def __repr__(self) -> str:
        return f"WNS(client_id={self.auth.client_id!r}, token_url={self.auth.token_url!r})"

    @property
    def auth_refreshes(self) -> int:
        return self.auth.fetches

    # -- Provider -------------------------------------------------------------------

    def prepare(self, notification: Notification) -> WNSPrepared:
        now = datetime.fromtimestamp(self._clock(), UTC)
        payload = build_payload(
            notification, max_size=self.max_payload_size,
            request_for_status=self.request_for_status, now=now,
        )
        return WNSPrepared(payload)

    def submit(
        self, prepared: WNSPrepared, token: str, message_id: str | None
    ) -> asyncio.Future[TokenResult]:
        if not self.is_allowed(token):
            future: asyncio.Future[TokenResult] = asyncio.get_running_loop().create_future()
            future.set_result(TokenResult(
                # One device's address, not the app's configuration: fail that device only
                # (a CONFIG cause would pause every WNS send of the app).
                token, Status.FAILED, reason="DisallowedEndpoint", cause=Cause.REQUEST,
                detail="channel URI is not https on an allowed WNS host",
            ))
            return future
        return asyncio.ensure_future(self._send(prepared, token))

    async def aclose(self) -> None:
        await self._lanes.aclose()
        await self._token_http.aclose()

    # -- helpers --------------------------------------------------------------------

    def is_allowed(self, channel: str) -> bool:
        """True if ``channel`` is an https URI on an allowed host and port."""
        try:
            parts = urlsplit(channel)
            port = parts.port or 443
        except ValueError:
            return False
        host = parts.hostname
        if parts.scheme != "https" or not host or parts.username is not None:
            return False
        return self._allowed.allows(host, port)

    async def _send(self, prepared: WNSPrepared, channel: str) -> TokenResult:
        try:
            return await self._attempt(prepared, channel)
        except Exception as exc:  # the future must resolve to a result, whatever happens
            logger.exception("wns: unexpected error sending to a channel")
            return TokenResult(channel, Status.FAILED, reason=type(exc).__name__, cause=Cause.REQUEST,
                               detail="unexpected error in the WNS client")

    async def _attempt(self, prepared: WNSPrepared, channel: str) -> TokenResult:
        try:
            access = await self.auth.token()
        except AuthenticationError as exc:
            return TokenResult(channel, Status.FAILED, reason="AuthenticationError",
                               cause=Cause.CONFIG, detail=str(exc))
        except RetryableError as exc:
            untrusted = certificate_outcome(channel, exc)
            if untrusted is not None:
                return untrusted
            cause = Cause.TRANSPORT if isinstance(exc, TransportError) else Cause.PROVIDER
            return TokenResult(channel, Status.RETRY, reason=type(exc).__name__, cause=cause,
                               retry_after=exc.retry_after, detail=str(exc))
        payload = prepared.payload
        http = await self._lanes.acquire()
        try:
            response = await http.post(
                channel, content=payload.body,
                headers=[*payload.headers, ("authorization", f"Bearer {access}")],
            )
        except httpx.HTTPError as exc:
            return certificate_outcome(channel, exc) or TokenResult(
                channel, Status.RETRY, reason=type(exc).__name__, cause=Cause.TRANSPORT,
                detail=str(exc) or type(exc).__name__)
        except httpx.InvalidURL as exc:
            return TokenResult(channel, Status.FAILED, reason="InvalidURL", cause=Cause.REQUEST,
                               detail=str(exc))
        finally:
            self._lanes.release(http)
        if response.status_code == 401:
            self.auth.invalidate(access)
            if channel in prepared.unauthorized:
                prepared.unauthorized.discard(channel)
                result = classify(channel, response, self._clock())
                result.status, result.cause = Status.FAILED, Cause.CONFIG
                result.detail = "WNS refused a freshly fetched access token"
                logger.warning("wns: a fresh access token for %s was refused", self.auth.client_id)
                return result
            prepared.unauthorized.add(channel)
        elif prepared.unauthorized:
            prepared.unauthorized.discard(channel)
        return classify(channel, response, self._clock())

