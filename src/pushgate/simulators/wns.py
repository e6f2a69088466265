"""A protocol-faithful local WNS, with its two OAuth token endpoints (docs/protocols/wns.md, §8).

Served over HTTP/1.1 only, like WNS (docs/protocols/wns.md §1 and §3.1):

- ``POST /accesstoken.srf``: the classic (login.live.com) client-credentials
  grant, ``scope=notify.windows.com``, ``expires_in`` an integer;
- ``POST /{tenant}/oauth2/v2.0/token``: the Entra ID grant,
  ``scope=https://wns.windows.com/.default``, ``expires_in`` a string. Tokens
  from it belong to Windows App SDK apps, which cannot receive tile or badge
  pushes (docs/protocols/wns.md §1);
- ``POST /?token=<channel>`` (and ``/w/?token=``): a notification, checked
  in the order method (405), framing (400), bearer token (401, with
  ``WWW-Authenticate`` when expired), channel (404 unknown, 410 expired), app
  (403), headers and body (400, 413), throttling (406 per cloud service; 200
  ``channelthrottled`` + ``X-WNS-CONTINUE-AFTER`` per channel), then 200
  ``received`` (``dropped`` for a toast, or an uncached raw, to an offline
  device) with ``X-WNS-Msg-ID`` and ``MS-CV``, plus
  ``X-WNS-DeviceConnectionStatus`` only when ``X-WNS-RequestForStatus: true``.

Out of the box one classic app exists (client id ``ms-app://s-1-15-2-demo``,
generated secret). Only channels it issued (:meth:`WNSSimulator.create_channel`,
``POST channels``) exist; others get 404, as WNS answers channel URIs it never
issued. ``accept_any_token=True`` makes any channel id exist (benchmarks).

Control routes (besides the common ones, all JSON under ``/__control/``):

- ``POST apps`` ``{"client_id", "client_secret", "tenant_id", "app_sdk"}`` (all optional)
- ``POST channels`` ``{"id", "client_id", "state"}`` → ``{"id", "uri", ...}``
- ``POST channels/state`` ``{"channel": id-or-uri, "state": "active|offline|expired|unknown"}``
- ``POST rate_limit`` ``{"limit": n|null, "window": s, "client_id": ...}`` (406)
- ``POST channel_rate_limit`` ``{"limit": n|null, "window": s, "channel": ...}`` (channelthrottled)
- ``POST mode`` ``{"accept_any_token": bool, "app_sdk": bool}``
- ``POST tokens/revoke`` (every issued access token becomes invalid: 401)
- ``GET credentials`` → :meth:`WNSSimulator.demo_credentials`
"""

from __future__ import annotations

import base64
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from pushgate.simulators import _wns_checks as checks
from pushgate.simulators._base import ControlError, Simulator
from pushgate.simulators._server import SimAction, SimRequest, SimResponse
from pushgate.simulators.tls import LocalCA

DEMO_CLIENT_ID = "ms-app://s-1-15-2-demo"
DEMO_CHANNEL = "demo-channel"
TOKEN_LIFETIME = 86400  # seconds, docs/protocols/wns.md §2
CHANNEL_STATES = frozenset({"active", "offline", "expired", "unknown"})
_ENTRA_PATH = re.compile(r"/([^/]+)/oauth2/v2\.0/token")


@dataclass(slots=True)
class WNSApp:
    client_id: str
    client_secret: str
    tenant_id: str | None = None  # set: an Entra ID app (token endpoint per tenant)
    app_sdk: bool = False  # Windows App SDK: toast and raw only


@dataclass(slots=True)
class Channel:
    id: str
    client_id: str | None = None  # None: any app may push to it
    state: str = "active"


@dataclass(slots=True)
class _AccessToken:
    client_id: str
    expires_at: float
    app_sdk: bool


class WNSSimulator(Simulator):
    """WNS and its token endpoints on one HTTP/1.1 port."""

    name: ClassVar[str] = "wns"
    http1: ClassVar[bool] = True
    http2: ClassVar[bool] = False
    alpn: ClassVar[tuple[str, ...]] = ("http/1.1",)

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        ca: LocalCA | None = None,
        tls: bool = True,
        accept_any_token: bool = False,
        app_sdk: bool = False,
        token_lifetime: int = TOKEN_LIFETIME,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str | None = None,
    ) -> None:
        """
        :param accept_any_token: any channel id under this simulator exists
            (default: only channels it issued or had registered; others get
            404 as WNS answers channel URIs it never issued).
        :param app_sdk: treat every app as a Windows App SDK app (no tile/badge).
        :param token_lifetime: ``expires_in`` of issued access tokens, seconds.
        :param client_id: the demo app's Package SID.
        :param client_secret: its secret (generated when omitted).
        """
        super().__init__(clock=clock, ca=ca, tls=tls, accept_any_token=accept_any_token)
        self.app_sdk = app_sdk
        self.token_lifetime = token_lifetime
        self.apps: dict[str, WNSApp] = {}
        self.channels: dict[str, Channel] = {}
        self.tokens_issued = 0
        self._tokens: dict[str, _AccessToken] = {}
        self._service_limits: dict[str | None, checks.RateLimit] = {}
        self._channel_limits: dict[str | None, checks.RateLimit] = {}
        self.demo_app = self.register_app(client_id, client_secret)
        # the channel demo_credentials shows, issued so the example works as printed
        self.channels[DEMO_CHANNEL] = Channel(DEMO_CHANNEL)
        for method, name, handler, description in (
            ("POST", "apps", lambda b: asdict(self.register_app(
                b.get("client_id"), b.get("client_secret"), tenant_id=b.get("tenant_id"),
                app_sdk=b.get("app_sdk"))), "register an app (classic or Entra ID)"),
            ("GET", "apps", lambda _: {"apps": [asdict(a) for a in self.apps.values()]}, "the apps"),
            ("POST", "channels", lambda b: self._channel_json(self.create_channel(
                b.get("id"), client_id=b.get("client_id"), state=b.get("state", "active"))),
             "issue a channel (bound to an app if client_id is given)"),
            ("GET", "channels", lambda _: {"channels": [self._channel_json(c) for c in self.channels]},
             "the known channels"),
            ("POST", "channels/state", lambda b: self.set_channel_state(b["channel"], b["state"]),
             "set a channel's state: active, offline, expired, unknown"),
            ("POST", "rate_limit", lambda b: self.set_rate_limit(
                b.get("limit"), float(b.get("window", 60.0)), client_id=b.get("client_id")),
             "per cloud service limit (406 beyond)"),
            ("POST", "channel_rate_limit", lambda b: self.set_channel_rate_limit(
                b.get("limit"), float(b.get("window", 60.0)), channel=b.get("channel")),
             "per channel limit (channelthrottled beyond)"),
            ("POST", "mode", lambda b: self.set_mode(
                accept_any_token=b.get("accept_any_token"), app_sdk=b.get("app_sdk")),
             "accept any channel id, App SDK mode"),
            ("POST", "tokens/revoke", lambda _: self.revoke_tokens(), "invalidate access tokens (401)"),
            ("GET", "credentials", lambda _: self.demo_credentials(), "the demo app's credentials and URLs"),
        ):
            self.add_control(method, name, handler, description)

    # -- knobs (Python API; each also a control route) ----------------------------------

    def register_app(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        tenant_id: str | None = None,
        app_sdk: bool | None = None,
    ) -> WNSApp:
        """Register (or replace) an app. With ``tenant_id`` it authenticates at
        the Entra endpoint and is an App SDK app unless ``app_sdk=False``."""
        if client_id is None:
            client_id = str(uuid.uuid4()) if tenant_id else f"ms-app://s-1-15-2-{secrets.randbelow(10**10)}"
        app = WNSApp(
            client_id=client_id,
            client_secret=client_secret or secrets.token_urlsafe(24),
            tenant_id=tenant_id,
            app_sdk=tenant_id is not None if app_sdk is None else app_sdk,
        )
        self.apps[client_id] = app
        return app

    def create_channel(
        self, channel_id: str | None = None, *, client_id: str | None = None, state: str = "active"
    ) -> str:
        """Create a channel (bound to ``client_id``'s app if given); returns its URI."""
        if state not in CHANNEL_STATES:
            raise ControlError(f"state is one of {sorted(CHANNEL_STATES)}")
        if client_id is not None and client_id not in self.apps:
            raise ControlError(f"no app {client_id!r}")
        channel_id = channel_id or base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()
        self.channels[channel_id] = Channel(channel_id, client_id, state)
        return self.channel_uri(channel_id)

    def channel_uri(self, channel_id: str) -> str:
        return f"{self.url}/?token={channel_id}"

    def set_channel_state(self, channel: str, state: str) -> None:
        """``active``, ``offline`` (toasts dropped), ``expired`` (410) or ``unknown`` (404)."""
        if state not in CHANNEL_STATES:
            raise ControlError(f"state is one of {sorted(CHANNEL_STATES)}")
        channel_id = self.channel_id(channel)
        existing = self.channels.get(channel_id)
        if existing is None:
            self.channels[channel_id] = Channel(channel_id, state=state)
        else:
            existing.state = state

    def set_rate_limit(
        self, limit: int | None, window: float = 60.0, *, client_id: str | None = None
    ) -> None:
        """Per cloud service: more than ``limit`` sends per ``window`` seconds → 406
        (for one app, or each app when ``client_id`` is None)."""
        self._set_limit(self._service_limits, client_id, limit, window)

    def set_channel_rate_limit(
        self, limit: int | None, window: float = 60.0, *, channel: str | None = None
    ) -> None:
        """Per channel: more than ``limit`` per ``window`` → 200 channelthrottled
        (for one channel, or each channel when ``channel`` is None)."""
        key = self.channel_id(channel) if channel is not None else None
        self._set_limit(self._channel_limits, key, limit, window)

    def set_mode(self, *, accept_any_token: bool | None = None, app_sdk: bool | None = None) -> None:
        if accept_any_token is not None:
            self.accept_any_token = bool(accept_any_token)
        if app_sdk is not None:
            self.app_sdk = bool(app_sdk)

    def revoke_tokens(self) -> None:
        """Forget every issued access token: the next sends get 401."""
        self._tokens.clear()

    def reset(self) -> None:
        super().reset()
        self._service_limits.clear()
        self._channel_limits.clear()

    def demo_credentials(self) -> dict[str, Any]:
        """What a client needs to talk to this simulator (printed by ``pushgate simulate``)."""
        parts = urlsplit(self.url)
        return {
            "client_id": self.demo_app.client_id,
            "client_secret": self.demo_app.client_secret,
            "token_url": f"{self.url}/accesstoken.srf",
            "entra_token_url": f"{self.url}/{{tenant}}/oauth2/v2.0/token",
            "allowed_hosts": [parts.netloc],
            "channel_uri_example": self.channel_uri(DEMO_CHANNEL),
            "accept_any_token": self.accept_any_token,
        }

    def channel_id(self, channel: str) -> str:
        """The channel id from a channel URI (or the id itself)."""
        if "?" in channel:
            tokens = parse_qs(channel.split("?", 1)[1]).get("token")
            if tokens:
                return tokens[0]
        return channel

    # -- request handling -----------------------------------------------------------------

    def issue_token(self) -> str:
        return self.create_channel()

    async def handle(self, request: SimRequest) -> SimAction:
        path, _, query = request.path.partition("?")
        if path == "/accesstoken.srf":
            return self._classic_token(request)
        entra = _ENTRA_PATH.fullmatch(path)
        if entra is not None:
            return self._entra_token(request, entra.group(1))
        if path in ("/", "/w", "/w/"):
            return self._notify(request, parse_qs(query).get("token", [""])[0])
        return checks.reply(request, 404, "Not found")

    def _issue(self, app: WNSApp) -> str:
        token = base64.b64encode(secrets.token_bytes(48)).decode()
        self._tokens[token] = _AccessToken(app.client_id, self.clock() + self.token_lifetime, app.app_sdk)
        self.tokens_issued += 1
        return token

    def _classic_token(self, request: SimRequest) -> SimResponse:
        form = checks.token_form(request)
        if isinstance(form, tuple):
            return checks.oauth_error(400, *form)
        if form["scope"] != checks.CLASSIC_SCOPE:
            return checks.oauth_error(400, "invalid_scope", "The provided value for scope is not valid")
        app = self.apps.get(form["client_id"])
        secret_ok = app is not None and checks.same_secret(app.client_secret, form["client_secret"])
        if app is None or app.tenant_id is not None or not secret_ok:
            return checks.oauth_error(400, "invalid_client", "Invalid client id or secret")
        return SimResponse.json(
            200, {"access_token": self._issue(app), "token_type": "bearer", "expires_in": self.token_lifetime}
        )

    def _entra_token(self, request: SimRequest, tenant: str) -> SimResponse:
        form = checks.token_form(request)
        if isinstance(form, tuple):
            return checks.oauth_error(400, *form)
        if not any(a.tenant_id and a.tenant_id.lower() == tenant.lower() for a in self.apps.values()):
            return checks.oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found")
        if form["scope"] != checks.ENTRA_SCOPE:
            return checks.oauth_error(400, "invalid_scope", "AADSTS70011: The scope is not valid")
        app = self.apps.get(form["client_id"])
        if app is None or (app.tenant_id or "").lower() != tenant.lower():
            return checks.oauth_error(400, "unauthorized_client",
                                "AADSTS700016: Application not found in the directory")
        if not checks.same_secret(app.client_secret, form["client_secret"]):
            return checks.oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided")
        lifetime = str(self.token_lifetime)
        return SimResponse.json(200, {"token_type": "Bearer", "expires_in": lifetime,
                                      "ext_expires_in": lifetime, "access_token": self._issue(app)})

    def _notify(self, request: SimRequest, channel_id: str) -> SimResponse:
        if request.method != "POST":
            return checks.reply(request, 405, "Only POST is supported", [("allow", "POST")])
        problem = checks.check_framing(request)
        if problem is not None:
            return checks.reply(request, problem.status, problem.description)
        presented = checks.bearer_token(request)
        token = self._tokens.get(presented) if presented else None
        if token is None:
            return checks.reply(request, 401, "Invalid or missing access token")
        if self.clock() >= token.expires_at:
            challenge = [("www-authenticate", checks.EXPIRED_CHALLENGE)]
            return checks.reply(request, 401, "Token has expired", challenge)
        channel = self.channels.get(channel_id)
        if channel is None and self.accept_any_token and channel_id:
            channel = Channel(channel_id)  # any channel id exists, for benchmarks
        if channel is None or channel.state == "unknown":
            return checks.reply(request, 404, "The channel URI is not valid or not recognized")
        if channel.state == "expired":
            return checks.reply(request, 410, "The channel URI has expired")
        if channel.client_id is not None and channel.client_id != token.client_id:
            return checks.reply(request, 403, "The access token is not authorized for this channel")
        notify = checks.check_notify(request, app_sdk=self.app_sdk or token.app_sdk)
        if isinstance(notify, checks.Problem):
            return checks.reply(request, notify.status, notify.description)
        now = self.clock()
        service = self._service_limits.get(token.client_id) or self._service_limits.get(None)
        if service is not None and service.hit(token.client_id, now) is not None:
            return checks.reply(request, 406, "The cloud service exceeded its throttle limit")
        limit = self._channel_limits.get(channel.id) or self._channel_limits.get(None)
        wait = limit.hit(channel.id, now) if limit is not None else None
        if wait is not None:
            return checks.reply(request, 200, None, [("x-wns-status", "channelthrottled"),
                                               ("x-wns-continue-after", str(math.ceil(wait)))])
        return self._accept(request, channel, token, notify)

    def _accept(
        self, request: SimRequest, channel: Channel, token: _AccessToken, notify: checks.Notify
    ) -> SimResponse:
        offline = channel.state == "offline"
        uncached = notify.type == "wns/toast" or (
            notify.type == "wns/raw" and notify.cache_policy != "cache"
        )
        status = "dropped" if offline and uncached else "received"
        headers = [("x-wns-status", status)]
        if notify.request_for_status:
            headers.append(("x-wns-deviceconnectionstatus", "disconnected" if offline else "connected"))
        response = checks.reply(request, 200, None, headers)
        record: dict[str, Any] = {
            "channel": channel.id,
            "client_id": token.client_id,
            "type": notify.type,
            "content_type": request.header("content-type"),
            "ttl": notify.ttl,
            "tag": notify.tag,
            "group": notify.group,
            "cache_policy": notify.cache_policy,
            "request_for_status": notify.request_for_status,
            "status": status,
            "msg_id": checks.header(response, "x-wns-msg-id"),
            "ms_cv": checks.header(response, "ms-cv"),
            "headers": {k: v for k, v in request.headers if k.startswith("x-wns-")},
            "body": notify.body.decode("utf-8", "replace"),
            "body_b64": base64.b64encode(notify.body).decode(),
        }
        self.accepted.append(record)
        return response

    # -- helpers ------------------------------------------------------------------------

    def _channel_json(self, channel: str | Channel) -> dict[str, Any]:
        found = channel if isinstance(channel, Channel) else self.channels[self.channel_id(channel)]
        return {**asdict(found), "uri": self.channel_uri(found.id)}

    @staticmethod
    def _set_limit(
        table: dict[str | None, checks.RateLimit], key: str | None, limit: int | None, window: float
    ) -> None:
        if limit is None:
            table.pop(key, None)
            return
        if int(limit) < 0 or window <= 0:
            raise ControlError("limit is >= 0 and window > 0")
        table[key] = checks.RateLimit(int(limit), float(window))
