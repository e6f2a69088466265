"""A local Web Push service that is also the browser (docs/protocols/webpush.md, §8).

As the push service it checks ``POST <endpoint>`` the way autopush (the
default mode), Apple (``mode="apple"``) or FCM (``mode="fcm"``) do: TTL,
Urgency, Topic, the content coding headers, the body size, VAPID (ES256
verified against ``k``, ``aud`` = this origin, ``exp`` on the injected clock,
``sub``), restricted subscriptions, subscription state and a rate limit, and
answers in that service's error format (autopush ``errno`` JSON, Apple
``{"reason": ...}``, FCM plain text; :mod:`._webpush_answers`). Success is ``201 Created`` with
``Location: <origin>/m/<id>`` and the ``TTL`` used; ``DELETE /m/<id>``
cancels an undelivered message.

As the browser it owns each subscription's P-256 key pair and auth secret
and **decrypts every accepted body** (RFC 8291; legacy ``aesgcm`` when
``allow_aesgcm``), so tests assert on the plaintext. A subscription is
"online" (messages are delivered at once) or "offline" (messages wait,
a newer one with the same Topic replaces a waiting one, TTL 0 is dropped but
still answered 201, RFC 8030 §5.2, §5.4).

Serves HTTP/2 and HTTP/1.1 (pywebpush sends over HTTP/1.1). Constructed with
no arguments it is ready for the demo: :meth:`WebPushSimulator.demo_credentials`
gives a VAPID key pair, the origin to allow, and where to subscribe.
"""

from __future__ import annotations

import json
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pushgate.crypto import ece
from pushgate.crypto.vapid import VapidKey, b64url_decode, b64url_encode
from pushgate.simulators import _webpush_checks as checks
from pushgate.simulators._base import ControlError, Simulator
from pushgate.simulators._server import SimAction, SimRequest, SimResponse
from pushgate.simulators._webpush_answers import render_rejection
from pushgate.simulators._webpush_control import add_webpush_routes
from pushgate.simulators.tls import LocalCA

MODES = ("autopush", "apple", "fcm")
STATES = ("active", "unsubscribed", "expired")
DEFAULT_MAX_BODY = 4096  # RFC 8030 §7.2: services must accept 4096 bytes


@dataclass(slots=True)
class _Subscription:
    id: str
    keys: ece.UserAgentKeys
    restricted_key: bytes | None = None
    state: str = "active"
    online: bool = True
    expiration_time: int | None = None  # epoch ms, as PushSubscription.expirationTime
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id → record
    recent: deque[float] = field(default_factory=deque)  # accepted times, for the rate limit
    rate_limit: tuple[int, float] | None = None

    def path(self) -> str:
        return f"/wpush/{'v2' if self.restricted_key else 'v1'}/{self.id}"


class WebPushSimulator(Simulator):
    """Push service and browser in one; see the module docstring.

    :param mode: ``autopush``, ``apple`` or ``fcm`` (error formats, VAPID strictness).
    :param max_body: larger request bodies get 413 (autopush accepts more than 4096).
    :param max_ttl: TTLs are clamped to this and the value used is echoed.
    :param allow_aesgcm: also accept the legacy ``aesgcm`` coding.
    """

    name: ClassVar[str] = "webpush"

    def __init__(
        self,
        *,
        mode: str = "autopush",
        max_body: int = DEFAULT_MAX_BODY,
        max_ttl: int = checks.MAX_TTL,
        allow_aesgcm: bool = False,
        clock: Callable[[], float] = time.time,
        ca: LocalCA | None = None,
        tls: bool = True,
        max_concurrent_streams: int = 1000,
        accept_any_token: bool = False,
    ) -> None:
        # accept_any_token is taken for a uniform constructor and has no effect:
        # an endpoint this simulator never made has no keys to decrypt with.
        super().__init__(clock=clock, ca=ca, tls=tls, max_concurrent_streams=max_concurrent_streams,
                         accept_any_token=accept_any_token)
        self.mode = self._check_mode(mode)
        self.max_body = max_body
        self.max_ttl = max_ttl
        self.allow_aesgcm = allow_aesgcm
        self.demo_key = VapidKey.generate()
        self.demo_subject = "mailto:demo@pushgate.invalid"
        self.subscriptions: dict[str, _Subscription] = {}
        self.rate_limit: tuple[int, float] | None = None
        self._messages: dict[str, _Subscription] = {}  # pending message id → its subscription
        self._vapid = checks.VapidVerifier()
        add_webpush_routes(self)

    # -- knobs (each also a control route, see _webpush_control) ------------------------

    @staticmethod
    def _check_mode(mode: str) -> str:
        if mode not in MODES:
            raise ControlError(f"mode must be one of {', '.join(MODES)}")
        return mode

    def set_mode(self, mode: str) -> None:
        self.mode = self._check_mode(mode)

    def set_options(
        self, *, max_body: int | None = None, max_ttl: int | None = None, allow_aesgcm: bool | None = None
    ) -> None:
        if max_body is not None:
            self.max_body = int(max_body)
        if max_ttl is not None:
            self.max_ttl = int(max_ttl)
        if allow_aesgcm is not None:
            self.allow_aesgcm = bool(allow_aesgcm)

    @property
    def origin(self) -> str:
        """``scheme://host:port``: the VAPID audience this service expects."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def subscribe(
        self, application_server_key: str | None = None, *, expiration_time: int | None = None
    ) -> dict[str, Any]:
        """Create a subscription as ``pushManager.subscribe()`` would and return
        its ``toJSON()`` form. With ``application_server_key`` (base64url) it is
        restricted to that VAPID key (RFC 8292 §4)."""
        restricted = None
        if application_server_key is not None:
            try:
                restricted = b64url_decode(application_server_key)
                ece.load_public_key(restricted)
            except (ValueError, ece.ECEError) as exc:
                raise ControlError(f"applicationServerKey is not a P-256 public key: {exc}") from exc
        sub = _Subscription(secrets.token_urlsafe(32), ece.generate_user_agent_keys(), restricted,
                            expiration_time=expiration_time)
        self.subscriptions[sub.id] = sub
        return self.subscription_json(sub.id)

    def subscription_json(self, subscription: str) -> dict[str, Any]:
        sub = self._find(subscription)
        return {
            "endpoint": self.origin + sub.path(),
            "expirationTime": sub.expiration_time,
            "keys": {
                "p256dh": b64url_encode(sub.keys.public_bytes),
                "auth": b64url_encode(sub.keys.auth_secret),
            },
        }

    def _find(self, subscription: str) -> _Subscription:
        """A subscription by id or endpoint URL."""
        key = subscription.rstrip("/").rsplit("/", 1)[-1]
        try:
            return self.subscriptions[key]
        except KeyError:
            raise ControlError(f"unknown subscription {subscription!r}") from None

    def set_state(self, subscription: str, state: str) -> None:
        """``active``, ``unsubscribed`` (410) or ``expired`` (410)."""
        if state not in STATES:
            raise ControlError(f"state must be one of {', '.join(STATES)}")
        self._find(subscription).state = state

    def unsubscribe(self, subscription: str) -> None:
        self.set_state(subscription, "unsubscribed")

    def expire(self, subscription: str) -> None:
        self.set_state(subscription, "expired")

    def set_online(self, online: bool, subscription: str | None = None) -> None:
        """Bring a browser (or all) online or offline; online delivers what waits."""
        subs = [self._find(subscription)] if subscription else list(self.subscriptions.values())
        for sub in subs:
            sub.online = online
            if online:
                self._flush(sub)

    def set_rate_limit(
        self, limit: int | None, *, window: float = 60.0, subscription: str | None = None
    ) -> None:
        """At most ``limit`` accepted messages per subscription per ``window``
        seconds; more get 429 with ``Retry-After``. ``None`` removes the limit."""
        value = None if limit is None else (int(limit), float(window))
        if subscription is None:
            self.rate_limit = value
        else:
            self._find(subscription).rate_limit = value

    def pending(self, subscription: str | None = None) -> list[dict[str, Any]]:
        subs = [self._find(subscription)] if subscription else list(self.subscriptions.values())
        return [record for sub in subs for record in sub.pending.values()]

    def inbox(self, subscription: str) -> list[dict[str, Any]]:
        """What the browser received (delivered messages), oldest first."""
        sub = self._find(subscription)
        return [r for r in self.accepted if r["subscription"] == sub.id and r["status"] == "delivered"]

    def demo_credentials(self) -> dict[str, Any]:
        """What a client needs to push through this simulator (the CLI prints it)."""
        return {
            "origin": self.origin,
            "allowed_hosts": [urlsplit(self.url).netloc],
            "vapid_private_key": self.demo_key.private_raw(),
            "vapid_public_key": self.demo_key.application_server_key,
            "vapid_subject": self.demo_subject,
            "subscribe": self.url.rstrip("/") + "/__control/subscribe",
            "mode": self.mode,
        }

    def reset(self) -> None:
        super().reset()
        self._messages.clear()
        for sub in self.subscriptions.values():
            sub.pending.clear()
            sub.recent.clear()

    # -- the push service -----------------------------------------------------------

    def issue_token(self) -> dict[str, Any]:
        return self.subscribe()

    async def handle(self, request: SimRequest) -> SimAction:
        path = request.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        try:
            if parts[0] == "m" and len(parts) == 2:
                if request.method != "DELETE":
                    return self._render(checks.Rejection(405, "MethodNotAllowed", None, "use DELETE"))
                return self._delete(parts[1])
            versioned = len(parts) == 3 and parts[1] in ("v1", "v2")
            if parts[0] != "wpush" or not (len(parts) == 2 or versioned):
                raise checks.Rejection(404, "BadPath", checks.ERRNO_INVALID_TOKEN, "Not Found")
            if request.method != "POST":
                return self._render(checks.Rejection(405, "MethodNotAllowed", None, "use POST"))
            return self._push(request, parts[-1])
        except checks.Rejection as rejection:
            return self._render(rejection)

    def _push(self, request: SimRequest, sub_id: str) -> SimResponse:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise checks.Rejection(404, "BadDeviceToken", checks.ERRNO_INVALID_TOKEN, "Invalid subscription")
        now = self.clock()
        if sub.state == "active" and sub.expiration_time is not None and now * 1000 >= sub.expiration_time:
            sub.state = "expired"
        if sub.state == "unsubscribed":
            raise checks.Rejection(410, "Unregistered", checks.ERRNO_GONE, "Subscription is no longer valid")
        if sub.state == "expired":
            raise checks.Rejection(410, "ExpiredToken", checks.ERRNO_EXPIRED, "Subscription has expired")
        retry_after = self._rate_check(sub, now)
        if retry_after is not None:
            return self._render(
                checks.Rejection(429, "TooManyRequests", None, "Too many requests"),
                [("retry-after", str(retry_after))],
            )
        auth = self._check_vapid(request, sub, now)
        ttl = checks.parse_ttl(request.header("ttl"), self.max_ttl)
        urgency = checks.check_urgency(request.header("urgency"))
        topic = checks.check_topic(request.header("topic"), apple=self.mode == "apple")
        plaintext = b""
        encoding = None
        if request.body:
            if len(request.body) > self.max_body:
                raise checks.Rejection(413, "PayloadTooLarge", checks.ERRNO_TOO_LARGE,
                                       f"Body is {len(request.body)} bytes; the limit is {self.max_body}")
            enc = checks.check_encoding(
                request.header("content-encoding"), request.header("encryption"),
                request.header("crypto-key"), allow_aesgcm=self.allow_aesgcm,
            )
            plaintext = checks.decrypt_body(request.body, enc, sub.keys)
            encoding = enc.name
        sub.recent.append(now)
        record = self._record(request, sub, auth, ttl, urgency, topic, encoding, plaintext, now)
        self._store(sub, record)
        headers = [("location", f"{self.origin}/m/{record['id']}"), ("ttl", str(ttl))]
        if self.mode == "apple":
            headers.append(("apns-id", str(uuid.uuid4()).upper()))
        return SimResponse(201, headers)

    def _rate_check(self, sub: _Subscription, now: float) -> int | None:
        limit = sub.rate_limit or self.rate_limit
        if limit is None:
            return None
        count, window = limit
        while sub.recent and sub.recent[0] <= now - window:
            sub.recent.popleft()
        if len(sub.recent) < count:
            return None
        return max(1, math.ceil(sub.recent[0] + window - now))

    def _check_vapid(self, request: SimRequest, sub: _Subscription, now: float) -> checks.VapidAuth | None:
        auth = checks.parse_authorization(
            request.header("authorization"), request.header("crypto-key"), legacy=self.mode == "autopush"
        )
        if auth is None:
            if sub.restricted_key is not None or self.mode == "apple":
                raise checks.VapidRejection("missing", "BadJwtToken", "VAPID authorization is required")
            return None
        self._vapid.verify(auth, audience=self.origin, now=now, strict_sub=self.mode == "apple")
        if sub.restricted_key is not None and auth.key != sub.restricted_key:
            raise checks.VapidRejection(
                # RFC 8292 §4.2; the message is autopush's (docs/protocols/webpush.md §5)
                "mismatch", "VapidPkHashMismatch", "VAPID public key mismatch"
            )
        return auth

    def _record(
        self, request: SimRequest, sub: _Subscription, auth: checks.VapidAuth | None, ttl: int,
        urgency: str, topic: str | None, encoding: str | None, plaintext: bytes, now: float,
    ) -> dict[str, Any]:
        try:
            payload: Any = json.loads(plaintext) if plaintext else None
        except ValueError:
            payload = None
        headers = {k: v for k, v in request.headers if k != "authorization"}
        return {
            "id": secrets.token_urlsafe(16),
            "subscription": sub.id,
            "endpoint": self.origin + sub.path(),
            "received_at": now,
            "ttl": ttl,
            "urgency": urgency,
            "topic": topic,
            "encoding": encoding,
            "plaintext": plaintext.decode("utf-8", "replace"),
            "payload": payload,
            "headers": headers,
            "vapid": None if auth is None else {
                "scheme": auth.scheme, "key": b64url_encode(auth.key), "claims": auth.claims,
                "warnings": auth.warnings,
            },
            "http_version": request.connection.http_version,
            "status": "pending",
        }

    def _store(self, sub: _Subscription, record: dict[str, Any]) -> None:
        self.accepted.append(record)
        if sub.online:
            record["status"] = "delivered"
            return
        if record["ttl"] == 0:  # RFC 8030 §5.2: deliver now or never
            record["status"] = "dropped"
            return
        if record["topic"] is not None:  # RFC 8030 §5.4: replaces a waiting message
            for old in list(sub.pending.values()):
                if old["topic"] == record["topic"]:
                    old["status"] = "replaced"
                    del sub.pending[old["id"]]
                    self._messages.pop(old["id"], None)
        sub.pending[record["id"]] = record
        self._messages[record["id"]] = sub

    def _flush(self, sub: _Subscription) -> None:
        now = self.clock()
        for record in sub.pending.values():
            expired = record["received_at"] + record["ttl"] < now
            record["status"] = "expired" if expired else "delivered"
            self._messages.pop(record["id"], None)
        sub.pending.clear()

    def _delete(self, message_id: str) -> SimResponse:
        """RFC 8030 §6.2: cancel an undelivered message."""
        sub = self._messages.pop(message_id, None)
        if sub is None:
            raise checks.Rejection(404, "BadMessageId", None, "No such undelivered message")
        sub.pending.pop(message_id)["status"] = "deleted"
        return SimResponse(204)

    def _render(
        self, rejection: checks.Rejection, headers: list[tuple[str, str]] | None = None
    ) -> SimResponse:
        return render_rejection(self.mode, rejection, headers)
