"""The APNs client: HTTP/2 provider API with token (JWT) or certificate auth.

Wire facts: docs/protocols/apns.md; result handling: docs/protocols/apns.md §5.2 and §6.

This is the product's fastest path, so the per-request work is kept to a
few byte concatenations. :meth:`APNs.prepare` runs once per notification:
it encodes the JSON body and two HPACK header blocks (the pseudo-headers and
the constant ``apns-*`` headers) that are valid on every connection.
:meth:`APNs.submit` adds only ``:path``, the cached ``authorization`` block
and ``apns-id``, starts the request, and resolves a plain future from the
transport's callback (no task, no future per request: see
:meth:`pushgate.providers._base.Provider.start`). A 200 is answered with the
``apns-id`` the client sent: APNs echoes it, so the echoed value (a
Huffman-coded UUID) is never decoded on the success path.

Malformed tokens (empty, odd length, not hex) are answered locally as DEAD
``BadDeviceToken`` without a request: that is what APNs would say, and a
connection that sends many such requests can be dropped by Apple (docs/protocols/apns.md §7).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, NamedTuple

from pushgate.errors import ConfigurationError, TransportError
from pushgate.notification import Notification
from pushgate.providers._base import Provider
from pushgate.providers.apns import payload
from pushgate.providers.apns.auth import (
    DEFAULT_REFRESH,
    TokenSigner,
    certificate_uid,
    load_client_certificate,
    load_signing_key,
)
from pushgate.providers.apns.credentials import check_apple_id
from pushgate.providers.apns.outcomes import (
    EXPIRED_PROVIDER_TOKEN,
    classify,
    classify_exception,
)
from pushgate.providers.apns.text_template import TextTemplate
from pushgate.results import Cause, Status, TokenResult
from pushgate.transport import H2Pool, HeaderBlock, LiteralField, Response
from pushgate.transport.tls import client_context

logger = logging.getLogger("pushgate.apns")

# Hex digits; the even length is checked apart: "(?:[0-9a-fA-F]{2})+" cost 1.9 us a token, this 0.65 us.
_HEX_TOKEN: Final = re.compile(r"[0-9a-fA-F]+")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PATH_PREFIX: Final = b"/3/device/"
BAD_DEVICE_TOKEN: Final = "BadDeviceToken"


class PreparedAPNs(NamedTuple):
    """A notification ready for any token: body and pre-encoded headers.

    A NamedTuple for the reason :class:`~pushgate.providers.apns.payload.APNsRequestParts`
    is one: an event send makes one per device.
    """

    body: bytes
    pseudo: HeaderBlock  # :method, :scheme, :authority (pseudo-headers come first, RFC 9113 §8.3)
    fields: HeaderBlock  # the apns-* headers and content-type
    parts: payload.APNsRequestParts


_ID_BATCH = 256
# Version 4 and the RFC 9562 variant (§5.4): clear and set those bits of every 16 bytes at once.
_ID_MASK = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff") * _ID_BATCH, "big")
_ID_BITS = int.from_bytes(bytes.fromhex("00000000000040008000000000000000") * _ID_BATCH, "big")


def new_apns_ids() -> list[str]:
    """:data:`_ID_BATCH` random version-4 UUIDs in canonical lowercase form.

    One ``os.urandom`` call and one hex conversion for the batch, the bits
    set with two big-integer operations: 0.7 us per id instead of 1.4 us
    formatting each from its own 16 bytes (``str(uuid.uuid4())`` is slower
    still: it builds a UUID object per id, on a path run per notification).
    """
    size = 16 * _ID_BATCH
    h = ((int.from_bytes(os.urandom(size), "big") & _ID_MASK) | _ID_BITS).to_bytes(size, "big").hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(0, 2 * size, 32)]


class APNs(Provider[str, PreparedAPNs]):
    """Send through Apple's HTTP/2 provider API.

    Token auth (preferred, docs/protocols/apns.md §2.1)::

        APNs(key="AuthKey_ABC123DEFG.p8", key_id="ABC123DEFG", team_id="DEF123GHIJ",
             topic="com.example.app", environment="sandbox")

    Certificate auth (docs/protocols/apns.md §2.2)::

        APNs(cert_file="push.pem", environment="production")  # topic from the cert's UID

    Point ``base_url`` at a simulator or proxy and give ``ca_file=`` or
    ``ssl_context=`` to trust it.
    """

    name: ClassVar[str] = "apns"
    PRODUCTION_HOST: ClassVar[str] = "api.push.apple.com"
    SANDBOX_HOST: ClassVar[str] = "api.sandbox.push.apple.com"
    PORT: ClassVar[int] = 443
    ALTERNATIVE_PORT: ClassVar[int] = 2197
    # Consecutive BadDeviceToken answers (no success between) that suggest
    # the environment is wrong rather than the tokens (docs/protocols/apns.md §5.2 and §6).
    BAD_TOKEN_WARNING: ClassVar[int] = 50

    def __init__(
        self,
        *,
        key: str | bytes | Path | None = None,
        key_id: str | None = None,
        team_id: str | None = None,
        topic: str | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        environment: Literal["production", "sandbox"] = "production",
        base_url: str | None = None,
        alternative_port: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | Path | None = None,
        max_connections: int = 1,
        request_timeout: float = 30.0,
        ping_interval: float | None = 60.0,
        token_refresh: float = DEFAULT_REFRESH,
        clock: Callable[[], float] = time.time,
        **provider_options: Any,
    ) -> None:
        """
        :param key: the ``.p8`` signing key (path, or its PEM text) for token auth.
        :param key_id: its 10-character Key ID.
        :param team_id: the 10-character Team ID.
        :param topic: the app's bundle id (push-type suffixes are added per
            notification). Optional with certificate auth: the certificate's
            subject UID is used.
        :param cert_file: a PEM client certificate for certificate auth (it
            may hold the key too; else give ``key_file``).
        :param environment: ``production`` or ``sandbox`` (the development host).
        :param base_url: replaces the environment's host, e.g. a simulator URL.
        :param alternative_port: use port 2197 instead of 443.
        :param ssl_context: the client TLS context; with certificate auth the
            certificate is loaded into it.
        :param ca_file: trust this CA instead of the system store.
        :param max_connections: HTTP/2 connections to open (each carries many streams).
        :param request_timeout: seconds before an unanswered request is retried.
        :param ping_interval: seconds a connection may receive nothing before an
            HTTP/2 PING checks it is still alive (None: never).
        :param token_refresh: rebuild the JWT after this many seconds (clamped to [1200, 3300]).
        :param clock: epoch seconds; used for the JWT ``iat`` and ``apns-expiration``.
        :param provider_options: ``concurrency``, ``max_retries``, ``retry_backoff``,
            ``max_retry_delay``, ``max_payload_size`` (see :class:`Provider`).
        """
        super().__init__(**provider_options)
        token_parts = {"key": key, "key_id": key_id, "team_id": team_id}
        given = [name for name, value in token_parts.items() if value is not None]
        if given and cert_file is not None:
            raise ConfigurationError(
                "APNs: choose token auth (key, key_id, team_id) or certificate auth (cert_file), not both"
            )
        if not given and cert_file is None:
            raise ConfigurationError(
                "APNs needs credentials: key=, key_id= and team_id= (token auth) "
                "or cert_file= (certificate auth)"
            )
        if given and len(given) < 3:
            missing = sorted(set(token_parts) - set(given))
            raise ConfigurationError(f"APNs token auth also needs {', '.join(missing)}")
        if given:
            for name in ("key_id", "team_id"):  # the same check as stored credentials get
                check_apple_id(token_parts[name], name)
        if environment not in ("production", "sandbox"):
            raise ConfigurationError("APNs environment must be 'production' or 'sandbox'")
        self.environment = environment
        self._clock = clock
        self._signer: TokenSigner | None = None
        if cert_file is None:
            assert key is not None
            assert key_id is not None
            assert team_id is not None
            self._signer = TokenSigner(
                load_signing_key(key), key_id=key_id, team_id=team_id, clock=clock,
                refresh_interval=token_refresh,
            )
            if not topic:
                raise ConfigurationError("APNs token auth needs topic= (the app's bundle id)")
        else:
            topic = topic or certificate_uid(cert_file)
            if not topic:
                raise ConfigurationError("APNs: give topic=; the certificate has no subject UID to use")
        self.topic: str = topic
        if ssl_context is None:
            ssl_context = client_context(ca_file=ca_file)
        if cert_file is not None:
            load_client_certificate(ssl_context, cert_file, key_file)
        if base_url is None:
            host = self.SANDBOX_HOST if environment == "sandbox" else self.PRODUCTION_HOST
            port = self.ALTERNATIVE_PORT if alternative_port else self.PORT
            base_url = f"https://{host}:{port}"
        self.base_url = base_url
        self._pool = H2Pool(
            base_url, ssl_context=ssl_context, max_connections=max_connections,
            request_timeout=request_timeout, ping_interval=ping_interval,
        )
        self._pseudo = HeaderBlock.encode(
            [(":method", "POST"), (":scheme", self._pool.scheme), (":authority", self._pool.authority)]
        )
        self._path = LiteralField(":path")
        self._apns_id = LiteralField("apns-id")
        self._bad_token_streak = 0
        self._ids: list[str] = []  # apns-ids made ahead, see new_apns_ids

    def __repr__(self) -> str:
        auth = f"token key_id={self._signer.key_id!r}" if self._signer is not None else "certificate"
        return f"APNs(topic={self.topic!r}, environment={self.environment!r}, url={self.base_url!r}, {auth})"

    @property
    def tokens_minted(self) -> int:
        """Provider tokens (JWTs) signed so far, for metrics; 0 with certificate auth."""
        return self._signer.minted if self._signer is not None else 0

    @property
    def auth_refreshes(self) -> int:
        return self.tokens_minted

    # -- the Provider interface -------------------------------------------------------

    def new_message_id(self) -> str:
        """A lowercase UUID for ``apns-id``, kept on every retry of the message."""
        ids = self._ids
        if not ids:
            ids.extend(new_apns_ids())
        return ids.pop()

    def prepare(self, notification: Notification) -> PreparedAPNs:
        parts = payload.build_payload(
            notification,
            bundle_id=self.topic,
            now=datetime.fromtimestamp(self._clock(), UTC),
            max_size=self.max_payload_size,
        )
        fields = HeaderBlock.encode([*parts.headers(), ("content-type", "application/json")])
        return PreparedAPNs(parts.body, self._pseudo, fields, parts)

    def text_preparer(
        self, notification: Notification
    ) -> Callable[[str | None, str | None], PreparedAPNs]:
        """Per-device texts spliced into one encoded body, with one header block for all of them
        (:mod:`pushgate.providers.apns.text_template`); the full way where the splice cannot."""
        full_way = super().text_preparer(notification)
        template = TextTemplate.build(notification, bundle_id=self.topic,
                                      now=datetime.fromtimestamp(self._clock(), UTC),
                                      max_size=self.max_payload_size)
        if template is None:
            return full_way
        parts = template.parts
        pseudo = self._pseudo
        fields = HeaderBlock.encode([*parts.headers(), ("content-type", "application/json")])
        make_body = template.body
        shared = (parts.push_type, parts.topic, parts.priority, parts.expiration, parts.collapse_id)

        def prepare_text(title: str | None, body: str | None) -> PreparedAPNs:
            encoded = make_body(title, body)
            if encoded is None:
                return full_way(title, body)
            return PreparedAPNs(encoded, pseudo, fields, payload.APNsRequestParts(encoded, *shared))

        return prepare_text

    def submit(
        self, prepared: PreparedAPNs, token: str, message_id: str | None
    ) -> asyncio.Future[TokenResult]:
        return self._submit_via_start(prepared, token, message_id)

    def start(
        self,
        prepared: PreparedAPNs,
        token: str,
        message_id: str | None,
        done: Callable[[Any, TokenResult], None],
        tag: object,
    ) -> None:
        if message_id is None:
            message_id = self.new_message_id()
        if len(token) & 1 or not _HEX_TOKEN.fullmatch(token):
            done(tag, self._note(TokenResult(
                token, Status.DEAD, message_id=message_id, reason=BAD_DEVICE_TOKEN,
                detail="not a hex device token; not sent",
            )))
            return
        if not _UUID.fullmatch(message_id):
            # APNs would answer 400 BadMessageId (docs/protocols/apns.md §3.1); say so without the round trip.
            done(tag, TokenResult(token, Status.FAILED, message_id=message_id, reason="BadMessageId",
                                  cause=Cause.REQUEST, detail="apns-id must be a canonical UUID"))
            return
        generation = -1
        auth = b""
        if self._signer is not None:
            auth, generation = self._signer.header()
        # Pseudo-headers first (RFC 9113 §8.3), then apns-id, the constant
        # apns-* fields and the cached authorization block.
        block = b"".join((  # token and id are checked above: plain ASCII, no CR, LF or NUL
            prepared.pseudo,
            self._path.encode_checked(_PATH_PREFIX + token.encode("ascii")),
            self._apns_id.encode_checked(message_id.encode("ascii")),
            prepared.fields,
            auth,
        ))
        self._pool.send(block, prepared.body, self._answered, (token, message_id, generation, done, tag))

    async def aclose(self) -> None:
        await self._pool.aclose()

    # -- outcomes ---------------------------------------------------------------------

    def _answered(
        self,
        context: tuple[str, str, int, Callable[[Any, TokenResult], None], object],
        response: Response | None,
        error: TransportError | None,
    ) -> None:
        token, message_id, generation, done, tag = context
        if response is not None and response.status == 200:  # the common case, kept short
            self._bad_token_streak = 0
            done(tag, TokenResult(token, Status.SENT, message_id=message_id, http_status=200))
            return
        if response is None:
            assert error is not None
            outcome = classify_exception(token, message_id, error)
        else:
            outcome = classify(token, message_id, response)
            if outcome.reason == EXPIRED_PROVIDER_TOKEN and self._signer is not None:
                if self._signer.expire(generation):
                    logger.info("APNs provider token expired early (clock skew?); building a new one")
            elif outcome.cause is Cause.CONFIG:
                logger.error("APNs rejected our configuration for topic %s: %s", self.topic, outcome.reason)
        done(tag, self._note(outcome))

    def _note(self, outcome: TokenResult) -> TokenResult:
        """Watch for a run of BadDeviceToken: usually the wrong environment, not bad tokens."""
        if outcome.status is Status.SENT:
            self._bad_token_streak = 0
        elif outcome.reason == BAD_DEVICE_TOKEN:
            self._bad_token_streak += 1
            if self._bad_token_streak == self.BAD_TOKEN_WARNING:
                logger.warning(
                    "APNs: %d BadDeviceToken answers in a row with no success: are these %s tokens? "
                    "(sandbox tokens fail on production and the other way round)",
                    self._bad_token_streak, self.environment,
                )
        return outcome
