"""A local APNs: the HTTP/2 provider API, checked the way Apple checks it.

Everything in docs/protocols/apns.md §8: HTTP/2 only for pushes (HTTP/1.1 gets 505;
the ``/__control/`` API still works over HTTP/1.1 for curl), token auth with
real ES256 verification, the hour and 20-minute JWT rules on the injected
clock, one team per connection, certificate auth (a LocalCA client
certificate whose subject UID is the bundle id and whose common name says
the environment, as Apple's do), every header rule in APNs order, the
payload limits, per-token states, a per-device burst limit, and
SETTINGS_MAX_CONCURRENT_STREAMS = 1 on a token-auth connection until its
first accepted push (docs/protocols/apns.md §7). Every answer, errors and injected faults
included, carries ``apns-id``.

Constructed with no arguments it is ready to use: one team, one ``.p8`` key
and the topic ``com.example.app``. Like Apple, it answers 400 BadDeviceToken
to tokens it never issued (:meth:`APNsSimulator.add_token`, ``POST tokens``);
``accept_any_token=True`` makes any well-formed hex token an active device.
:meth:`APNsSimulator.demo_credentials` returns what a client needs.

This module is the HTTP/2 side: connections, stream limits, the push path
and what is recorded. The rules a push is checked against are in
:mod:`pushgate.simulators._apns_checks`, the teams, keys, certificates and
device tokens they check against in :mod:`pushgate.simulators._apns_accounts`,
and the control routes in :mod:`pushgate.simulators._apns_control`.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from pushgate.simulators import _apns_checks as checks
from pushgate.simulators._apns_accounts import DEFAULT_TOPIC, APNsAccounts, apple_id
from pushgate.simulators._apns_checks import TOPIC_SUFFIXES, BurstLimiter, Environment, JWTVerifier, Reject
from pushgate.simulators._apns_control import add_apns_routes, connection_stats
from pushgate.simulators._base import CONTROL_PREFIX, Fault, Simulator
from pushgate.simulators._server import GoAway, SimAction, SimConnection, SimRequest, SimResponse
from pushgate.simulators.tls import LocalCA

logger = logging.getLogger("pushgate.simulators.apns")


class APNsSimulator(APNsAccounts, Simulator):
    """A protocol-faithful APNs provider endpoint (see the module docstring); its teams, keys,
    certificates and device tokens are set up with the methods of :class:`APNsAccounts`."""

    name: ClassVar[str] = "apns"
    http1: ClassVar[bool] = True  # only for /__control/; pushes over HTTP/1.1 get 505
    http2: ClassVar[bool] = True
    alpn: ClassVar[tuple[str, ...]] = ("h2", "http/1.1")

    def __init__(
        self,
        *,
        environment: Environment = "production",
        clock: Callable[[], float] = time.time,
        ca: LocalCA | None = None,
        tls: bool = True,
        max_concurrent_streams: int = 1000,
        accept_any_token: bool = False,
        store_latest_only: bool = False,
        record: bool = True,
        drop_streams_after_reject: bool = False,
        reject_background_priority_10: bool = True,
        not_json_reason: str = "BadPayload",
        burst_limit: int | None = None,
        burst_window: float = 1.0,
        idle_timeout: float | None = None,
        demo_topic: str = DEFAULT_TOPIC,
    ) -> None:
        """
        :param environment: which APNs this is; keys, tokens and certificates
            of the other environment are rejected as Apple does.
        :param max_concurrent_streams: the stream limit once a token-auth
            connection has had a push accepted (and from the start with certificates).
        :param accept_any_token: any well-formed token is an active device
            (default: only tokens issued or registered here; others get
            400 BadDeviceToken as Apple answers tokens it never issued).
        :param store_latest_only: keep only the newest accepted push per device
            and collapse id, as APNs stores one undelivered notification (docs/protocols/apns.md §4).
        :param record: keep accepted pushes at all (off for benchmark sinks;
            ``accepted_count`` still counts).
        :param drop_streams_after_reject: lower the stream limit to 1 after a
            rejected push and restore it after the next success (seen live, docs/protocols/apns.md §7).
        :param reject_background_priority_10: answer BadPriority to
            ``background`` pushes at priority 10, which Apple documents as an error.
        :param not_json_reason: the (undocumented) reason for a body that is not a JSON object.
        :param burst_limit: pushes per device per ``burst_window`` seconds
            before 429 TooManyRequests; ``None`` means no limit.
        :param idle_timeout: a connection unused this long (by the simulator's
            clock) is closed with GOAWAY ``IdleTimeout`` when next used.
        """
        super().__init__(clock=clock, ca=ca, tls=tls, max_concurrent_streams=max_concurrent_streams,
                         accept_any_token=accept_any_token)
        self.environment: Environment = environment
        self.store_latest_only = store_latest_only
        self.record = record
        self.drop_streams_after_reject = drop_streams_after_reject
        self.reject_background_priority_10 = reject_background_priority_10
        self.not_json_reason = not_json_reason
        self.idle_timeout = idle_timeout
        self.accepted_count = 0
        self.teams = {}
        self.keys = {}
        self.tokens = {}
        self._verifier = JWTVerifier(self.keys)
        self._bursts = BurstLimiter(burst_limit, burst_window)
        self._latest: dict[tuple[str, str | None], int] = {}
        demo = self.register_key(apple_id(), topics=[demo_topic])
        self._demo: dict[str, str] = {**demo, "topic": demo_topic}
        add_apns_routes(self)

    # -- limits, faults and read-back (each also a control route) -------------------

    def set_burst_limit(self, limit: int | None, window: float = 1.0) -> None:
        """At most ``limit`` pushes per device per ``window`` seconds (429 TooManyRequests)."""
        self._bursts = BurstLimiter(limit, window)

    def set_max_concurrent_streams(self, value: int) -> None:
        """The raised stream limit; applied at once to connections already raised."""
        if value < 1:
            raise ValueError("max_concurrent_streams must be at least 1")
        self.max_concurrent_streams = value
        if self._server is not None:
            for conn in self.server.connections:
                if not conn.closed and conn.state.get("raised"):
                    conn.update_settings(max_concurrent_streams=value)

    def demo_credentials(self) -> dict[str, Any]:
        """What a client needs: team, key id, private key PEM, topic, environment, URL, CA."""
        out: dict[str, Any] = {**self._demo, "environment": self.environment}
        if self._server is not None:
            out["url"] = self.url
        if self.ca is not None:
            out["ca"] = self.ca.ca_pem.decode()
        return out

    def queue_error(
        self, status: int, reason: str, *, count: int = 1, path_contains: str | None = None
    ) -> None:
        """Answer the next ``count`` pushes with ``{"reason": reason}`` (e.g. 503 Shutdown)."""
        headers = [("content-type", "application/json")]
        body = _json({"reason": reason})
        self.queue_fault(Fault(status, body, headers, count=count, path_contains=path_contains))

    def queue_goaway(
        self, reason: str = "Shutdown", *, count: int = 1, last_stream_id: int | None = None
    ) -> None:
        """Close the connection of the next push with GOAWAY and debug ``{"reason": ...}``."""
        debug = _json({"reason": reason})
        self.queue_fault(Fault(action="goaway", debug=debug, count=count, last_stream_id=last_stream_id))

    def reset(self) -> None:
        super().reset()
        self.accepted_count = 0
        self._latest.clear()
        self._bursts.times.clear()

    def connection_stats(self) -> list[dict[str, Any]]:
        """Per connection: advertised limit, peak concurrent pushes (before and
        after the first raise), JWT changes; what tests assert stream rules with."""
        return connection_stats(self.server.connections) if self._server is not None else []

    # -- server hooks ---------------------------------------------------------------

    def server_ssl_context(self) -> Any:
        """Ask for a client certificate without requiring one: both auth modes on one port."""
        if self.ca is None:
            return None
        ctx = self.ca.server_context(self.alpn, require_client_cert=True)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def on_connect(self, connection: SimConnection) -> None:
        super().on_connect(connection)
        connection.state["last_used"] = self.clock()
        if connection.peer_cert:
            # Certificate connections start at the full limit.
            connection.state["raised"] = connection.state["opened_up"] = True
        else:
            # docs/protocols/apns.md §7: 1 until a push is accepted
            connection.update_settings(max_concurrent_streams=1)

    async def _dispatch(self, request: SimRequest) -> SimAction:
        """Count concurrent pushes per connection and put ``apns-id`` on every answer."""
        if request.path.startswith(CONTROL_PREFIX):
            return await super()._dispatch(request)
        state = request.connection.state
        state["inflight"] = inflight = state.get("inflight", 0) + 1
        state["peak"] = max(state.get("peak", 0), inflight)
        if not state.get("opened_up"):
            state["peak_before_raise"] = max(state.get("peak_before_raise", 0), inflight)
        try:
            action = await super()._dispatch(request)
        finally:
            state["inflight"] -= 1
        if isinstance(action, SimResponse) and not any(k == "apns-id" for k, _ in action.headers):
            action.headers.append(("apns-id", self._answer_id(request)))
        return action

    def _answer_id(self, request: SimRequest) -> str:
        apns_id = request.header("apns-id")
        return apns_id if apns_id is not None else str(uuid.uuid4())

    # -- the push path --------------------------------------------------------------

    def issue_token(self) -> str:
        return self.add_token()

    async def handle(self, request: SimRequest) -> SimAction:
        conn = request.connection
        if conn.http_version != "2":
            return SimResponse.json(505, {"reason": "HTTP/2 is required"})
        now = self.clock()
        if self.idle_timeout is not None and now - conn.state["last_used"] > self.idle_timeout:
            return GoAway(_json({"reason": "IdleTimeout"}))
        conn.state["last_used"] = now
        try:
            return self._accept(request, now)
        except Reject as rejected:
            if self.drop_streams_after_reject and conn.state.get("raised"):
                conn.state["raised"] = False
                conn.update_settings(max_concurrent_streams=1)
            return SimResponse.json(rejected.status, rejected.body(), [("apns-id", self._answer_id(request))])

    def _accept(self, request: SimRequest, now: float) -> SimResponse:
        token = checks.check_path(request.method, request.path)
        checks.check_duplicates(request.headers)
        headers = dict(request.headers)
        cred = checks.authenticate(request.connection, headers, now, self._verifier, self.environment)
        push_type = checks.check_push_type(headers.get("apns-push-type"))
        topic = headers.get("apns-topic")
        if topic is None:
            if cred.cert_topic is None:
                raise Reject(400, "MissingTopic")
            # docs/protocols/apns.md §2.2: the certificate's UID
            topic = cred.cert_topic + TOPIC_SUFFIXES[push_type]
        bundle = checks.bundle_of(topic, push_type)
        checks.check_topic(cred, bundle, self.teams)
        checks.check_message_headers(headers, push_type, self.reject_background_priority_10)
        payload = checks.check_body(request.body, push_type, self.not_json_reason)
        strict = not self.accept_any_token
        checks.check_device(self.tokens.get(token), token, bundle, self.environment, strict)
        self._bursts.check(token, now)
        return self._deliver(request, headers, token, topic, push_type, payload, now)

    def _deliver(
        self,
        request: SimRequest,
        headers: dict[str, str],
        token: str,
        topic: str,
        push_type: str,
        payload: dict[str, Any],
        now: float,
    ) -> SimResponse:
        conn = request.connection
        apns_id = headers.get("apns-id") or str(uuid.uuid4())
        self.accepted_count += 1
        if self.record:
            entry = {
                "token": token,
                "topic": topic,
                "push_type": push_type,
                "apns_id": apns_id,
                "headers": {k: v for k, v in headers.items() if k.startswith("apns-")},
                "payload": payload,
                "time": now,
                "connection": conn.id,
            }
            slot = (token, headers.get("apns-collapse-id"))
            index = self._latest.get(slot) if self.store_latest_only else None
            if index is not None and index < len(self.accepted) and self.accepted[index]["token"] == token:
                self.accepted[index] = entry
            else:
                if self.store_latest_only:
                    self._latest[slot] = len(self.accepted)
                self.accepted.append(entry)
        if not conn.state.get("raised"):
            conn.state["raised"] = conn.state["opened_up"] = True
            conn.update_settings(max_concurrent_streams=self.max_concurrent_streams)
        out = [("apns-id", apns_id)]
        if self.environment == "sandbox":
            out.append(("apns-unique-id", str(uuid.uuid4())))
        return SimResponse(200, out)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
