"""The FCM HTTP v1 client (docs/protocols/fcm.md, §6).

One request per message, ``POST /v1/projects/{project}/messages:send``,
multiplexed over long-lived HTTP/2 connections (FCM has no batch endpoint
any more, docs/protocols/fcm.md §1.1). Everything but the target is constant across the requests
of a send, so :meth:`FCM.prepare` serialises the body once with a hole for
the token, and the HPACK block of the constant headers is encoded once per
client; per request only the token is spliced in and the (hourly) bearer
header block is appended.

The OAuth access token comes from :class:`ServiceAccountAuth`: while it is
cached a request starts without a task or an await; only the request that
finds it stale waits for the (shared) refresh.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from pushgate.errors import ConfigurationError, InvalidNotification, PushgateError, TransportError
from pushgate.notification import Notification
from pushgate.providers._base import Provider
from pushgate.providers._tls import certificate_outcome
from pushgate.providers.fcm import topics
from pushgate.providers.fcm.auth import ServiceAccount, ServiceAccountAuth
from pushgate.providers.fcm.outcomes import classify
from pushgate.providers.fcm.payload import (
    MESSAGE_LIMIT,
    TOKEN_RE,
    TOPIC_LIMIT,
    FCMPayload,
    Target,
    build_payload,
    condition_topics,
    normalize_topic,
)
from pushgate.results import Cause, Status, TokenResult
from pushgate.transport import H2Pool, HeaderBlock, Response
from pushgate.transport.tls import client_context

logger = logging.getLogger("pushgate.fcm")

DEFAULT_BASE_URL = "https://fcm.googleapis.com"


@dataclass(slots=True)
class FCMPrepared:
    """A notification ready to send: the body with a hole for its target, and
    the targets whose request got one 401 with this message (docs/protocols/fcm.md §5: refresh
    the OAuth token and retry once)."""

    payload: FCMPayload
    unauthorized: set[str] = field(default_factory=set)


def _token_endpoint_trust(ssl_context: ssl.SSLContext | None, ca_file: str | Path | None) -> Any:
    """TLS trust for the token endpoint, in a context of its own: httpx sets
    ALPN to http/1.1 on the context it is given, which would stop the HTTP/2
    pool negotiating ``h2`` if they shared one."""
    if ca_file is not None:
        return client_context(ca_file=ca_file, alpn=("http/1.1",))
    if ssl_context is not None:
        cas = ssl_context.get_ca_certs(binary_form=True)
        if cas:
            return ssl.create_default_context(cadata="".join(ssl.DER_cert_to_PEM_cert(c) for c in cas))
    return True


class FCM(Provider[str, FCMPrepared]):
    """Send through FCM HTTP v1 with a service account.

    :param service_account: the service-account JSON key (dict, path, or text).
    :param project_id: the Firebase project; default: the key's ``project_id``.
    :param base_url: where FCM is (a simulator, a proxy); a path is kept as a prefix.
    :param ssl_context: TLS for the FCM endpoint; ``ca_file`` trusts one CA file
        (for both FCM and the token endpoint).
    :param ping_interval: seconds the HTTP/2 connection may receive nothing
        before a PING checks it is still alive (None: never).
    :param validate_only: FCM's dry run: validated, never delivered.
    :param topic_size_limit: the limit for topic and condition messages
        (docs/protocols/fcm.md §4.2 says 2048 bytes; 4096 applies to token messages).
    :param clock: seconds since the epoch, for TTLs, Retry-After dates and
        token expiry.
    :param auth: an access-token source to share between clients.
    Other keyword arguments go to :class:`Provider` (concurrency, retries,
    ``max_payload_size`` for trimming).
    """

    name: ClassVar[str] = "fcm"

    def __init__(
        self,
        service_account: Mapping[str, Any] | str | Path,
        *,
        project_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | Path | None = None,
        max_connections: int = 1,
        request_timeout: float = 30.0,
        ping_interval: float | None = 60.0,
        validate_only: bool = False,
        topic_size_limit: int = TOPIC_LIMIT,
        iid_url: str | None = None,
        topic_batch_size: int = topics.MAX_BATCH,
        clock: Callable[[], float] = time.time,
        auth: ServiceAccountAuth | None = None,
        **provider_options: Any,
    ) -> None:
        super().__init__(**provider_options)
        account = ServiceAccount.load(service_account)
        project = project_id or account.project_id
        if not project:
            raise ConfigurationError("no project_id: pass one or use a key that names it")
        self.project_id = project
        self.base_url = base_url.rstrip("/")
        self.validate_only = validate_only
        self.topic_size_limit = topic_size_limit
        self.clock = clock
        self.auth = auth or ServiceAccountAuth(
            account, verify=_token_endpoint_trust(ssl_context, ca_file), clock=clock, timeout=request_timeout
        )
        try:
            self._pool = H2Pool(
                self.base_url,
                ssl_context=ssl_context or client_context(ca_file=ca_file),
                max_connections=max_connections,
                request_timeout=request_timeout,
                ping_interval=ping_interval,
            )
        except ValueError as exc:
            raise ConfigurationError(f"unusable base_url {base_url!r}: {exc}") from exc
        prefix = urlsplit(self.base_url).path
        self._path = f"{prefix}/v1/projects/{quote(project, safe='')}/messages:send"
        self._constant: HeaderBlock | None = None
        self._bearer: tuple[str, HeaderBlock] | None = None
        # Instance ID (topic subscriptions) is Google's other host; a simulator or proxy
        # given as base_url serves both unless iid_url says otherwise.
        default_base = self.base_url == DEFAULT_BASE_URL.rstrip("/")
        self.iid_url = (iid_url or (topics.IID_URL if default_base else self.base_url)).rstrip("/")
        self.topic_batch_size = topic_batch_size
        self._iid_trust = _token_endpoint_trust(ssl_context, ca_file)
        self._iid_timeout = request_timeout
        self._iid_http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"FCM(project_id={self.project_id!r}, base_url={self.base_url!r})"

    @property
    def auth_refreshes(self) -> int:
        return self.auth.refreshes

    # -- connection and headers -------------------------------------------------------

    @property
    def pool(self) -> H2Pool:
        """The HTTP/2 connections to FCM (for introspection: connections opened, queue)."""
        return self._pool

    def _headers(self, pool: H2Pool, access_token: str) -> HeaderBlock:
        if self._constant is None:
            self._constant = HeaderBlock.encode([
                (":method", "POST"),
                (":scheme", pool.scheme),
                (":authority", pool.authority),
                (":path", self._path),
                ("content-type", "application/json"),
                ("user-agent", "pushgate"),
            ])
        if self._bearer is None or self._bearer[0] != access_token:
            self._bearer = (access_token, HeaderBlock.encode([("authorization", f"Bearer {access_token}")]))
        return self._constant + self._bearer[1]

    # -- Provider ----------------------------------------------------------------------

    def prepare(self, notification: Notification) -> FCMPrepared:
        return self._prepare(notification, "token", MESSAGE_LIMIT)

    def _prepare(self, notification: Notification, target: Target, limit: int) -> FCMPrepared:
        payload = build_payload(
            notification,
            target=target,
            limit=limit,
            max_size=self.max_payload_size,
            validate_only=self.validate_only,
            now=datetime.fromtimestamp(self.clock(), UTC),
        )
        return FCMPrepared(payload)

    def submit(
        self, prepared: FCMPrepared, token: str, message_id: str | None
    ) -> asyncio.Future[TokenResult]:
        loop = asyncio.get_running_loop()
        if prepared.payload.target == "token" and not TOKEN_RE.fullmatch(token):
            done: asyncio.Future[TokenResult] = loop.create_future()
            done.set_result(TokenResult(
                token, Status.DEAD, reason="INVALID_ARGUMENT",
                detail="The registration token is not a valid FCM registration token "
                       "(characters outside [A-Za-z0-9_:-]); not sent",
            ))
            return done
        access = self.auth.cached()
        if access is None:  # the first request, or the token is due: wait for the refresh
            return asyncio.ensure_future(self._submit_after_refresh(prepared, token))
        return self._start(prepared, token, access)

    async def _submit_after_refresh(self, prepared: FCMPrepared, token: str) -> TokenResult:
        try:
            access = await self.auth.token()
        except TransportError as exc:
            return certificate_outcome(token, exc) or TokenResult(
                token, Status.RETRY, reason="TokenEndpointUnavailable", cause=Cause.TRANSPORT,
                detail=str(exc))
        except ConfigurationError as exc:
            return TokenResult(token, Status.FAILED, reason=type(exc).__name__,
                               cause=Cause.CONFIG, detail=str(exc))
        return await self._start(prepared, token, access)

    def _start(self, prepared: FCMPrepared, token: str, access: str) -> asyncio.Future[TokenResult]:
        loop = asyncio.get_running_loop()
        out: asyncio.Future[TokenResult] = loop.create_future()
        try:
            pool = self._pool
            response = pool.request(self._headers(pool, access), prepared.payload.body_for(token))
        except Exception as exc:  # the transport promises not to raise here; never lose a token
            out.set_result(_failure(token, exc))
            return out
        response.add_done_callback(partial(self._finish, out, prepared, token, access))
        return out

    def _finish(
        self,
        out: asyncio.Future[TokenResult],
        prepared: FCMPrepared,
        token: str,
        access: str,
        response: asyncio.Future[Response],
    ) -> None:
        if out.done():
            return
        if response.cancelled():
            out.set_result(TokenResult(token, Status.RETRY, reason="Cancelled", cause=Cause.TRANSPORT))
            return
        exc = response.exception()
        if exc is not None:
            out.set_result(_failure(token, exc))
            return
        answer = response.result()
        try:
            result = classify(answer.status, answer.body, answer.header("retry-after"), token, self.clock())
        except Exception as error:  # a body no parser foresaw must not lose the token
            logger.exception("could not classify an FCM answer (status %s)", answer.status)
            result = _failure(token, error)
        if result.cause is Cause.AUTH:
            self.auth.invalidate(access)
            if token in prepared.unauthorized:  # a fresh token was refused too
                prepared.unauthorized.discard(token)
                result.status, result.cause, result.retry_after = Status.FAILED, Cause.CONFIG, None
                result.detail = "FCM refused a freshly fetched access token: " + (result.detail or "401")
                logger.warning("FCM refused the service account's access token twice")
            else:
                prepared.unauthorized.add(token)
        elif prepared.unauthorized:
            prepared.unauthorized.discard(token)
        if result.status is not Status.SENT:
            logger.debug("%s -> %s %s", token[:12], result.status, result.reason)
        out.set_result(result)

    # -- topics and conditions ----------------------------------------------------------

    async def send_to_topic(self, notification: Notification, topic: str) -> TokenResult:
        """Send to everyone subscribed to ``topic`` (a leading ``/topics/`` is dropped).

        The topic-message size limit applies. The result's ``token`` is the topic name.
        """
        name = normalize_topic(topic)
        prepared = self._prepare(self.with_defaults(notification), "topic", self.topic_size_limit)
        return (await self._run(iter([(prepared, name, None)]))).results[0]

    async def send_to_condition(self, notification: Notification, condition: str) -> TokenResult:
        """Send to a topic condition such as ``"'a' in topics && !('b' in topics)"``
        (at most five topics, docs/protocols/fcm.md §4.2)."""
        try:
            condition_topics(condition)
        except ValueError as exc:
            raise InvalidNotification(str(exc), field="condition") from exc
        prepared = self._prepare(notification, "condition", self.topic_size_limit)
        return (await self._run(iter([(prepared, condition, None)]))).results[0]

    async def subscribe_to_topic(self, tokens: Sequence[str], topic: str) -> topics.TopicManagementResult:
        """Subscribe device tokens to ``topic`` (``/topics/`` prefix optional), in batches of
        ``topic_batch_size`` (at most 1000) through the Instance ID API, as firebase-admin does."""
        return await self._manage_topic("batchAdd", tokens, topic)

    async def unsubscribe_from_topic(self, tokens: Sequence[str], topic: str) -> topics.TopicManagementResult:
        """Unsubscribe device tokens from ``topic``, in batches (see :meth:`subscribe_to_topic`)."""
        return await self._manage_topic("batchRemove", tokens, topic)

    async def _manage_topic(
        self, operation: str, tokens: Sequence[str], topic: str
    ) -> topics.TopicManagementResult:
        name = normalize_topic(topic)  # raises InvalidNotification before any request
        if self._iid_http is None:
            self._iid_http = httpx.AsyncClient(verify=self._iid_trust, timeout=self._iid_timeout)
        return await topics.manage(self._iid_http, self.iid_url, self.auth.token, operation, list(tokens),
                                   name, self.topic_batch_size)

    async def aclose(self) -> None:
        await self._pool.aclose()
        await self.auth.aclose()
        if self._iid_http is not None:
            await self._iid_http.aclose()


def _failure(token: str, exc: BaseException) -> TokenResult:
    """A request that got no HTTP answer: transport failures are retried, except
    those that are configuration too (a server without HTTP/2: HTTP2NotNegotiated;
    an untrusted certificate)."""
    untrusted = certificate_outcome(token, exc)
    if untrusted is not None:
        return untrusted
    if isinstance(exc, TransportError) and not isinstance(exc, ConfigurationError):
        return TokenResult(token, Status.RETRY, reason=type(exc).__name__, cause=Cause.TRANSPORT,
                           detail=str(exc) or None, retry_after=exc.retry_after)
    if isinstance(exc, PushgateError):
        return TokenResult(token, Status.FAILED, reason=type(exc).__name__, cause=Cause.CONFIG,
                           detail=str(exc))
    logger.error("unexpected error sending to FCM: %r", exc)
    return TokenResult(token, Status.FAILED, reason=type(exc).__name__, cause=Cause.REQUEST,
                       detail=str(exc)[:200])
