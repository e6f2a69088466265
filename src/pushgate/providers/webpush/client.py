"""The Web Push client: RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID.

One request per subscription (docs/protocols/webpush.md §1.1, §3 and §5): ``POST <endpoint>`` with
``TTL``, ``Content-Encoding: aes128gcm``, the body encrypted for that
subscription's keys (a fresh ephemeral key and salt per message, RFC 8291
§3), ``Authorization: vapid t=…, k=…`` (one JWT per push-service origin,
re-signed when less than an hour is left) and optional ``Urgency`` and
``Topic``.

Transport: one lean HTTP/2 pool per push-service origin, created on first
use, with pre-encoded stateless header blocks. A service that refuses
HTTP/2 in ALPN gets an HTTP/1.1 client (httpx) instead, remembered for that
origin. Endpoints are checked against an allow-list of the browsers' push
services before anything is sent (SSRF protection, docs/protocols/webpush.md §1.2).

Answers are classified in :mod:`pushgate.providers.webpush.outcomes`;
transport failures are RETRY.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pushgate.allowed_hosts import host_port
from pushgate.crypto import ece
from pushgate.crypto.vapid import VapidKey
from pushgate.errors import InvalidToken, TransportError
from pushgate.notification import Notification
from pushgate.providers._base import Provider
from pushgate.providers._tls import certificate_outcome
from pushgate.providers.webpush.auth import Vapid
from pushgate.providers.webpush.outcomes import DETAIL_LIMIT, Sent, classify
from pushgate.providers.webpush.payload import WebPushMessage, build_payload
from pushgate.providers.webpush.subscription import DEFAULT_ALLOWED_HOSTS, AllowList, Subscription
from pushgate.results import Cause, Status, TokenResult
from pushgate.transport import H2Pool, HeaderBlock, HTTP2NotNegotiated, LiteralField, Response
from pushgate.transport.tls import client_context

__all__ = [
    "DEFAULT_ALLOWED_HOSTS", "ENCRYPT_AHEAD", "PreparedWebPush", "Subscription", "WebPush", "WebPushToken",
]

logger = logging.getLogger("pushgate.webpush")

WebPushToken = Subscription | Mapping[str, Any] | str
_Done = Callable[[Any, TokenResult], None]  # the engine's callback, see Provider.start
# Messages of a send encrypted ahead of sending (WebPush's encrypt_ahead): 256 encryptions
# take about 14 ms of one core. docs/protocols/webpush.md §7 has what it gained.
ENCRYPT_AHEAD = 256


@dataclass(slots=True)
class PreparedWebPush:
    """A notification ready for any subscription: plaintext and constant headers."""

    message: WebPushMessage
    headers: list[tuple[str, str]]
    _block: HeaderBlock | None = field(default=None, repr=False)

    @property
    def block(self) -> HeaderBlock:
        if self._block is None:
            self._block = HeaderBlock.encode(self.headers)
        return self._block


class _Origin:
    """Everything kept per allowed push-service origin: its connection(s) and
    VAPID header. Only origins that passed the allow-list get one, so the
    check runs once per origin (an origin string fixes host and port)."""

    __slots__ = ("audience", "auth", "auth_block", "http1", "pool", "pseudo")

    def __init__(self, audience: str) -> None:
        self.audience = audience
        self.pool: H2Pool | None = None
        self.http1: httpx.AsyncClient | None = None
        self.pseudo: HeaderBlock | None = None
        self.auth = ""
        self.auth_block: HeaderBlock | None = None

    def auth_header(self, value: str) -> HeaderBlock:
        if value != self.auth or self.auth_block is None:
            self.auth = value
            self.auth_block = HeaderBlock.encode([("authorization", value)])
        return self.auth_block


def _netloc(base_url: str) -> str:
    netloc = urlsplit(base_url).netloc
    if not netloc:
        raise ValueError(f"base_url {base_url!r} is not a URL such as https://push.example.net")
    return netloc


class WebPush(Provider[WebPushToken, PreparedWebPush]):
    """Send to browser push subscriptions (Chrome/FCM, Firefox, Safari, Edge).

    Tokens are :class:`Subscription` objects, or the ``toJSON()`` dicts or
    JSON strings the browser produced; results name them by endpoint.

    :param vapid_private_key: PEM, a PEM path, the raw private key as
        base64url, a :class:`VapidKey`, or a cryptography EC key.
    :param vapid_subject: ``mailto:`` or ``https:`` contact (RFC 8292 §2.1).
    :param allowed_hosts: more push services endpoints may point at, beside
        the browsers' own (:data:`DEFAULT_ALLOWED_HOSTS`): ``host`` (port
        443), ``host:port``, ``*.suffix``, IPv6 as ``::1`` or ``[::1]:8443``
        (:mod:`pushgate.allowed_hosts`).
    :param base_url: a push service of your own, a proxy or a simulator:
        its host and port are allowed as well. Endpoints come from the
        subscriptions, so this names a service rather than replacing one.
    :param ssl_context: TLS context for HTTP/2 (offer ALPN ``h2`` and
        ``http/1.1`` so an HTTP/1.1-only service can say so); also used by
        the HTTP/1.1 fallback, which sets its ALPN to ``http/1.1``. Prefer
        ``ca_file`` when pointing at a private service or a simulator.
    :param ca_file: trust this CA bundle instead of the system store.
    :param max_connections_per_origin: HTTP/2 connections per push service.
    :param request_timeout: seconds to wait for each answer.
    :param ping_interval: seconds an HTTP/2 connection may receive nothing
        before a PING checks it is still alive (None: never).
    :param clock: epoch seconds (VAPID expiry, Retry-After dates, TTL from ``expiration``).
    :param encrypt_ahead: messages of a send encrypted ahead, in order, before any of them
        is sent (the first few sooner, so the first request does not wait for all of
        them); 0 encrypts each as it is sent. Runs of encryptions and runs of sends cost
        less CPU than the two alternating per request (docs/protocols/webpush.md §7).
    """

    name = "webpush"

    def __init__(
        self,
        *,
        vapid_private_key: VapidKey | str | bytes | Path,
        vapid_subject: str,
        allowed_hosts: Iterable[str] | None = None,
        base_url: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | Path | None = None,
        max_connections_per_origin: int = 1,
        request_timeout: float = 30.0,
        ping_interval: float | None = 60.0,
        clock: Callable[[], float] = time.time,
        encrypt_ahead: int = ENCRYPT_AHEAD,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if encrypt_ahead < 0:
            raise ValueError("encrypt_ahead must be 0 or more")
        self.lookahead = encrypt_ahead
        self.vapid = Vapid(vapid_private_key, vapid_subject, clock=clock)
        # Added to the browsers' services: a subscription from Chrome must still
        # work when a private push service is allowed too.
        hosts = [*DEFAULT_ALLOWED_HOSTS, *(allowed_hosts or ())]
        if base_url is not None:
            hosts.append(_netloc(base_url))
        self.allowed = AllowList(hosts)
        self.clock = clock
        self.request_timeout = request_timeout
        self.max_connections_per_origin = max_connections_per_origin
        self.ping_interval = ping_interval
        self._ssl_context = ssl_context
        self._ca_file = ca_file
        self._h2_context: ssl.SSLContext | None = ssl_context
        self._origins: dict[str, _Origin] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._path = LiteralField(":path")
        self._on_answer = self._answered  # one bound method, not one per request

    def __repr__(self) -> str:
        return f"WebPush(subject={self.vapid.subject!r}, allowed={self.allowed!r})"

    @property
    def auth_refreshes(self) -> int:
        return self.vapid.signed

    # -- Provider ---------------------------------------------------------------------

    def prepare(self, notification: Notification) -> PreparedWebPush:
        message = build_payload(
            notification, max_size=self.max_payload_size, now=datetime.fromtimestamp(self.clock(), UTC)
        )
        return PreparedWebPush(message, message.headers())

    def token_key(self, token: WebPushToken) -> str:
        if isinstance(token, Subscription):
            return token.endpoint
        if isinstance(token, Mapping) and isinstance(token.get("endpoint"), str):
            return str(token["endpoint"])
        try:
            return Subscription.from_json(token).endpoint
        except InvalidToken:
            return token if isinstance(token, str) else repr(token)[:200]

    def submit(
        self, prepared: PreparedWebPush, token: WebPushToken, message_id: str | None
    ) -> asyncio.Future[TokenResult]:
        return self._submit_via_start(prepared, token, message_id)

    def stage(self, prepared: PreparedWebPush, token: WebPushToken) -> tuple[WebPushToken, object]:
        """Check the subscription and encrypt for it, ahead of :meth:`start_staged` (``encrypt_ahead``).

        Returns the parsed :class:`Subscription` and its body, or ``token`` and the outcome
        of a message that is not to be sent. No object is made per message to hold them
        (the engine keeps them in its job): one more object per request in flight made
        the garbage collector run twice as often.
        """
        if type(token) is Subscription and token.expiration_time is None and token.origin in self._origins:
            sub = token  # the common case, without a call
        else:
            checked = self._checked(token)
            if isinstance(checked, TokenResult):
                return token, checked
            sub = checked
        plaintext = prepared.message.plaintext
        try:
            return sub, sub.recipient.encrypt(plaintext) if plaintext else b""
        except ece.ECEError as exc:
            return sub, TokenResult(sub.endpoint, Status.FAILED, reason="EncryptionFailed",
                                    cause=Cause.REQUEST, detail=str(exc))

    def start(
        self,
        prepared: PreparedWebPush,
        token: WebPushToken,
        message_id: str | None,
        done: Callable[[Any, TokenResult], None],
        tag: object,
    ) -> None:
        token, staged = self.stage(prepared, token)
        self.start_staged(prepared, token, staged, message_id, done, tag)

    def start_staged(
        self,
        prepared: PreparedWebPush,
        token: WebPushToken,
        staged: object,
        message_id: str | None,
        done: Callable[[Any, TokenResult], None],
        tag: object,
    ) -> None:
        if type(staged) is bytes and isinstance(token, Subscription):  # what stage() returns to send
            origin = self._origins.get(token.origin) or self._origin(token)  # made when it was checked
            assert origin is not None  # an origin that is not allowed has an outcome instead
            authorization = self.vapid.cached(origin.audience)
            if authorization is None or origin.http1 is not None:
                task = self._spawn(self._send_async(origin, token, prepared, staged))
                task.add_done_callback(partial(_task_done, done, tag, token.endpoint))
            else:
                self._send_h2(origin, token, prepared, staged, authorization, done, tag)
            return
        assert isinstance(staged, TokenResult)  # decided without sending
        done(tag, staged)

    def _checked(self, token: WebPushToken) -> Subscription | TokenResult:
        """``token`` as a :class:`Subscription` that may be sent to, or the outcome of one that may not."""
        if type(token) is Subscription:
            sub = token
        else:
            try:
                sub = Subscription.coerce(token)
            except InvalidToken as exc:
                return TokenResult(self.token_key(token), Status.FAILED, reason="InvalidSubscription",
                                   cause=Cause.REQUEST, detail=str(exc))
        if sub.origin not in self._origins and self._origin(sub) is None:
            shown = host_port(sub.host, sub.port)
            logger.warning("refusing endpoint on %s (not an allowed push service)", shown)
            # One subscription's push service, not the app's configuration: fail that
            # device only (a CONFIG cause would pause every Web Push send of the app).
            return TokenResult(sub.endpoint, Status.FAILED, reason="DisallowedEndpoint", cause=Cause.REQUEST,
                               detail=f"{shown} is not on the allow-list")
        if sub.expiration_time is not None and sub.expiration_time <= self.clock() * 1000:
            return TokenResult(sub.endpoint, Status.DEAD, reason="SubscriptionExpired",
                               detail="the subscription's expirationTime has passed")
        return sub

    async def aclose(self) -> None:
        origins, self._origins = self._origins, {}
        for origin in origins.values():
            if origin.pool is not None:
                await origin.pool.aclose()
            if origin.http1 is not None:
                await origin.http1.aclose()

    # -- sending ----------------------------------------------------------------------

    def _origin(self, sub: Subscription) -> _Origin | None:
        """The record of ``sub``'s origin, made on its first use; None if it is not allowed."""
        origin = self._origins.get(sub.origin)
        if origin is None:
            if not self.allowed.allows(sub.host, sub.port):
                return None
            origin = self._origins[sub.origin] = _Origin(sub.origin)
        return origin

    def _context(self, alpn: tuple[str, ...]) -> ssl.SSLContext:
        if self._ssl_context is not None:
            return self._ssl_context
        return client_context(ca_file=self._ca_file, alpn=alpn)

    def _pool(self, origin: _Origin) -> H2Pool:
        if origin.pool is None:
            if self._h2_context is None:
                self._h2_context = self._context(("h2", "http/1.1"))
            origin.pool = H2Pool(
                origin.audience,
                ssl_context=self._h2_context,
                max_connections=self.max_connections_per_origin,
                request_timeout=self.request_timeout,
                ping_interval=self.ping_interval,
            )
            origin.pseudo = HeaderBlock.encode(
                [(":method", "POST"), (":scheme", "https"), (":authority", origin.pool.authority)]
            )
        return origin.pool

    def _spawn(self, coro: Any) -> asyncio.Future[TokenResult]:
        task: asyncio.Future[TokenResult] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _send_h2(
        self,
        origin: _Origin,
        sub: Subscription,
        prepared: PreparedWebPush,
        body: bytes,
        authorization: str,
        done: Callable[[Any, TokenResult], None],
        tag: object,
    ) -> None:
        """The fast path: no task, no future; the transport calls :meth:`_answered`."""
        pool = origin.pool or self._pool(origin)
        assert origin.pseudo is not None
        auth = origin.auth_block
        if auth is None or authorization is not origin.auth:  # the cached JWT is the same str object
            auth = origin.auth_header(authorization)
        block = b"".join((
            origin.pseudo, self._path.encode(sub.path), auth, prepared._block or prepared.block,
        ))
        pool.send(block, body, self._on_answer, (origin, sub, prepared, body, done, tag))

    def _answered(
        self,
        context: tuple[_Origin, Subscription, PreparedWebPush, bytes, _Done, object],
        response: Response | None,
        error: TransportError | None,
    ) -> None:
        origin, sub, prepared, body, done, tag = context
        if response is not None:
            status = response.status
            if status == 201 or status == 200 or status == 202:  # the common case, kept short
                done(tag, Sent.from_location(sub.endpoint, status, response.field("location")))
            else:
                done(tag, classify(sub.endpoint, status, response.header, response.body,
                                   audience=origin.audience, clock=self.clock))
        elif isinstance(error, HTTP2NotNegotiated):
            logger.info("%s refused HTTP/2; using HTTP/1.1 for it", origin.audience)
            origin.http1 = origin.http1 or self._http1_client()
            task = self._spawn(self._send_async(origin, sub, prepared, body))
            task.add_done_callback(partial(_task_done, done, tag, sub.endpoint))
        else:
            assert error is not None
            done(tag, certificate_outcome(sub.endpoint, error)
                 or self._transport_failure(sub.endpoint, type(error).__name__, str(error)))

    async def _send_async(
        self, origin: _Origin, sub: Subscription, prepared: PreparedWebPush, body: bytes
    ) -> TokenResult:
        """The slow path: a VAPID JWT to sign (under the lock), or an HTTP/1.1 origin."""
        try:
            authorization = await self.vapid.header(origin.audience)
        except Exception as exc:  # a broken key must become an outcome, not an exception
            logger.error("VAPID signing failed for %s: %s", origin.audience, type(exc).__name__)
            return TokenResult(sub.endpoint, Status.FAILED, reason="VapidSigningFailed", cause=Cause.CONFIG,
                               detail=type(exc).__name__)
        if origin.http1 is None:
            result: asyncio.Future[TokenResult] = asyncio.get_running_loop().create_future()
            self._send_h2(origin, sub, prepared, body, authorization, _set_outcome, result)
            return await result
        headers = [*prepared.headers, ("authorization", authorization)]
        try:
            response = await origin.http1.post(
                origin.audience + sub.path, content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            return certificate_outcome(sub.endpoint, exc) or self._transport_failure(
                sub.endpoint, type(exc).__name__, str(exc))
        return classify(sub.endpoint, response.status_code, response.headers.get, response.content,
                        audience=origin.audience, clock=self.clock)

    def _http1_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            http1=True,
            http2=False,
            verify=self._context(("http/1.1",)),
            timeout=httpx.Timeout(self.request_timeout),
            limits=httpx.Limits(max_connections=max(10, self.max_connections_per_origin * 10)),
            follow_redirects=False,
            trust_env=False,
        )

    # -- outcomes ---------------------------------------------------------------------

    def _transport_failure(self, key: str, reason: str, detail: str) -> TokenResult:
        return TokenResult(
            key, Status.RETRY, reason=reason, cause=Cause.TRANSPORT, detail=detail[:DETAIL_LIMIT]
        )


def _set_outcome(future: asyncio.Future[TokenResult], outcome: TokenResult) -> None:
    if not future.done():
        future.set_result(outcome)


def _task_done(
    done: Callable[[Any, TokenResult], None], tag: object, key: str, task: asyncio.Future[TokenResult]
) -> None:
    """A slow-path task's outcome to the engine's callback; a failed task is a transport RETRY."""
    if task.cancelled() or task.exception() is not None:
        reason = "Cancelled" if task.cancelled() else "Error"
        done(tag, TokenResult(key, Status.RETRY, reason=reason, cause=Cause.TRANSPORT))
    else:
        done(tag, task.result())

