"""A local FCM HTTP v1 service and its OAuth token endpoint (docs/protocols/fcm.md, §8).

It serves HTTP/2 and HTTP/1.1 on one TLS port (google-auth fetches tokens
with ``requests``, over HTTP/1.1):

- ``POST /token``: the service-account JWT-bearer grant (see
  :mod:`pushgate.simulators._fcm_oauth`);
- ``POST /v1/projects/{project}/messages:send``: checks the bearer token,
  the project, the body (:mod:`pushgate.simulators._fcm_validate`), the size
  limit, the device token's state and the quotas, in that order, and answers
  with FCM's status codes and ``google.rpc.Status`` errors;
- the legacy ``/fcm/send`` and ``/batch`` APIs answer 404, as they do since
  their shutdown (docs/protocols/fcm.md §1.1), so a regression to them fails loudly.

With no arguments it creates a project ``demo-project`` with a generated
service account. Like FCM, it answers 400 INVALID_ARGUMENT to tokens it
never issued (:meth:`FCMSimulator.register_token`, ``POST tokens``);
``accept_any_token=True`` makes any well-formed token an active device (a
benchmark sink). Every knob is a method and a control route under ``/__control/``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any, ClassVar

from pushgate.simulators._base import ControlError, Fault, Simulator
from pushgate.simulators._fcm_iid import IID_PATH, handle_iid
from pushgate.simulators._fcm_oauth import GOOGLE_TOKEN_URI, OAuthEndpoint
from pushgate.simulators._fcm_state import (
    INVALID_TOKEN_MESSAGE,
    Device,
    DeviceQuota,
    Platform,
    Project,
    TokenState,
    google_error,
    quota_exceeded,
    server_error,
    token_error,
    unauthenticated,
)
from pushgate.simulators._fcm_validate import Invalid, message_size, parse_send_request
from pushgate.simulators._fcm_wire import MESSAGE_SIZE_LIMIT, TOPIC_MESSAGE_SIZE_LIMIT
from pushgate.simulators._server import SimAction, SimRequest, SimResponse
from pushgate.simulators.tls import LocalCA

SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")
WELL_FORMED_TOKEN = re.compile(r"[A-Za-z0-9_:\-]{1,4096}")
DEMO_PROJECT = "demo-project"


class FCMSimulator(Simulator):
    """FCM HTTP v1 and Google's token endpoint, with control knobs.

    :param accept_any_token: any well-formed token is an active Android
        device. By default only tokens issued or registered here are; others
        answer 400 INVALID_ARGUMENT "not a valid FCM registration token", as
        FCM answers tokens it never issued.
    :param size_limit: bytes for a message (docs/protocols/fcm.md §4.2: 4096).
    :param topic_size_limit: bytes for a topic or condition message (2048).
    :param max_accepted: how many accepted messages :attr:`accepted` keeps
        (the oldest are dropped), so a long-running sink does not grow forever.
    :param service_account: a service-account JSON key (with ``private_key``) to
        use as the demo project's account instead of generating one, so demo
        credentials can stay the same across restarts.
    """

    name: ClassVar[str] = "fcm"
    http1: ClassVar[bool] = True
    http2: ClassVar[bool] = True

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        ca: LocalCA | None = None,
        tls: bool = True,
        max_concurrent_streams: int = 1000,
        accept_any_token: bool = False,
        size_limit: int = MESSAGE_SIZE_LIMIT,
        topic_size_limit: int = TOPIC_MESSAGE_SIZE_LIMIT,
        project_per_minute: int = 600_000,
        device_per_minute: int = 240,
        device_per_hour: int = 5_000,
        token_lifetime: int = 3599,
        max_accepted: int | None = 100_000,
        service_account: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(clock=clock, ca=ca, tls=tls, max_concurrent_streams=max_concurrent_streams,
                         accept_any_token=accept_any_token)
        self.size_limit = size_limit
        self.topic_size_limit = topic_size_limit
        self.project_per_minute = project_per_minute
        self.max_accepted = max_accepted
        self.oauth = OAuthEndpoint(clock, token_lifetime)
        self.projects: dict[str, Project] = {}
        self.devices: dict[str, Device] = {}
        self.topics: dict[str, set[str]] = {}  # Instance ID subscriptions (_fcm_iid.py)
        self.iid_batches = 0
        self.device_quota = DeviceQuota(device_per_minute, device_per_hour)
        self.delivered = 0
        if service_account is not None:
            demo = self.oauth.register(service_account, service_account.get("project_id") or DEMO_PROJECT)
        else:
            demo = self.oauth.create_account(self.create_project(DEMO_PROJECT))
        self.create_project(demo.project_id)
        self._demo_email = demo.client_email
        self._demo_project = demo.project_id
        for method, name, handler, description in (
            ("POST", "projects", lambda b: self.create_service_account(b["project_id"]),
             "a new service-account JSON for a project"),
            ("POST", "service_accounts", self._control_service_account, "register or create an account"),
            ("GET", "demo_credentials", lambda _: self.demo_credentials(), "the demo project and account"),
            ("POST", "tokens", lambda b: {"token": self.register_token(
                b.get("token"), project_id=b.get("project_id", DEMO_PROJECT),
                platform=b.get("platform", "android"), state=b.get("state", "active"))},
             "issue a device token (or register the given one)"),
            ("GET", "tokens", lambda _: {"tokens": {t: {"project_id": d.project_id, "platform": d.platform,
                                                        "state": d.state} for t, d in self.devices.items()}},
             "the known device tokens and their states"),
            ("POST", "token_state", lambda b: self.set_token_state(b["token"], b["state"]),
             "set a token's state: active, unregistered, invalid, apns_*"),
            ("POST", "quotas", lambda b: self.set_quotas(**b), "project and device quotas (429 beyond)"),
            ("POST", "revoke_access_tokens", lambda b: {"revoked": self.revoke_access_tokens(
                b.get("project_id"))}, "invalidate issued access tokens (sends get 401)"),
            ("POST", "apns_credential", lambda b: self.set_apns_credential(
                b.get("project_id", DEMO_PROJECT), bool(b["valid"])),
             "break or fix the project's APNs credential"),
            ("POST", "errors", lambda b: self.inject_error(
                int(b["status"]), count=int(b.get("count", 1)), retry_after=b.get("retry_after")),
             "the next sends answer a Google-shaped error"),
        ):
            self.add_control(method, name, handler, description)

    # -- knobs ----------------------------------------------------------------------

    def create_project(self, project_id: str) -> str:
        """Make a project known (idempotent); returns its id."""
        if project_id not in self.projects:
            self.projects[project_id] = Project(project_id, self.project_per_minute)
        return project_id

    def create_service_account(self, project_id: str = DEMO_PROJECT) -> dict[str, Any]:
        """A new service account for ``project_id`` (made if needed): its JSON key
        file, whose ``token_uri`` points at this simulator."""
        account = self.oauth.create_account(self.create_project(project_id))
        return self.oauth.account_json(account, self.token_uri)

    def register_service_account(self, info: dict[str, Any], project_id: str | None = None) -> str:
        """Accept a service account made elsewhere (its JSON key, or ``public_key``
        PEM with ``client_email``); returns the client email."""
        account = self.oauth.register(info, project_id)
        self.create_project(account.project_id)
        return account.client_email

    def _control_service_account(self, body: dict[str, Any]) -> Any:
        if "client_email" in body:
            return {"client_email": self.register_service_account(body, body.get("project_id"))}
        return self.create_service_account(body.get("project_id", DEMO_PROJECT))

    @property
    def token_uri(self) -> str:
        try:
            return f"{self.url}/token"
        except RuntimeError:  # not started yet
            return GOOGLE_TOKEN_URI

    def demo_credentials(self) -> dict[str, Any]:
        """What a client needs: base URL, project and service-account JSON."""
        account = self.oauth.accounts[self._demo_email][0]
        return {
            "base_url": self.url,
            "project_id": self._demo_project,
            "service_account": self.oauth.account_json(account, self.token_uri),
        }

    def register_token(
        self,
        token: str | None = None,
        *,
        project_id: str = DEMO_PROJECT,
        platform: str = "android",
        state: str = "active",
    ) -> str:
        """Register a device token (a realistic new one if ``token`` is None)."""
        if token is None:
            token = f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(100)}"
        if not WELL_FORMED_TOKEN.fullmatch(token):
            raise ControlError("a token is 1 to 4096 characters of [A-Za-z0-9_:-]")
        self.create_project(project_id)
        try:
            self.devices[token] = Device(project_id, Platform(platform), TokenState(state))
        except ValueError as exc:
            raise ControlError(str(exc)) from exc
        return token

    def set_token_state(self, token: str, state: str) -> None:
        """One of :class:`TokenState`: active, unregistered, invalid, apns_auth_error,
        apns_disabled, apns_unregistered. Unknown tokens are registered."""
        try:
            new = TokenState(state)
        except ValueError as exc:
            raise ControlError(str(exc)) from exc
        device = self.devices.get(token)
        if device is None:
            self.register_token(token, state=new)
        else:
            device.state = new

    def set_quotas(
        self,
        project_per_minute: int | None = None,
        device_per_minute: int | None = None,
        device_per_hour: int | None = None,
        project_id: str | None = None,
    ) -> None:
        """Change quotas: one project's (or every project's) per-minute limit, and
        the per-device limits. Counters start afresh."""
        if project_per_minute is not None:
            targets = [self.create_project(project_id)] if project_id else list(self.projects)
            for project in (self.projects[p] for p in targets):
                project.per_minute = project_per_minute
                project.usage.buckets.clear()
                project.usage.total = 0
            if project_id is None:
                self.project_per_minute = project_per_minute
        if device_per_minute is not None:
            self.device_quota.per_minute = device_per_minute
        if device_per_hour is not None:
            self.device_quota.per_hour = device_per_hour
        self.device_quota.clear()

    def revoke_access_tokens(self, project_id: str | None = None) -> int:
        """Make issued OAuth tokens invalid (sends with them get 401)."""
        return self.oauth.revoke(project_id)

    def set_apns_credential(self, project_id: str, valid: bool) -> None:
        """A broken APNs credential makes every iOS token of the project answer
        401 THIRD_PARTY_AUTH_ERROR."""
        self.projects[self.create_project(project_id)].apns_credential_valid = valid

    def reset(self) -> None:
        """Faults, latency, accepted messages and quota counters cleared; accounts
        and tokens stay."""
        super().reset()
        self.device_quota.clear()
        for project in self.projects.values():
            project.usage.buckets.clear()
            project.usage.total = 0

    def inject_error(self, status: int, *, count: int = 1, retry_after: str | int | None = None) -> None:
        """Answer the next ``count`` sends with a Google-shaped ``status`` (500, 503,
        429, 401), with ``Retry-After`` (seconds or an HTTP date) if given."""
        response = server_error(status, None if retry_after is None else str(retry_after))
        self.queue_fault(Fault(status=status, body=response.body, headers=response.headers,
                               count=count, path_contains="messages:send"))

    # -- the service ------------------------------------------------------------------

    def issue_token(self) -> str:
        return self.register_token()

    async def handle(self, request: SimRequest) -> SimAction:
        path = request.path.split("?", 1)[0]
        if path == "/token":
            host = request.header("host")
            audiences = {self.token_uri, GOOGLE_TOKEN_URI, *([f"https://{host}/token"] if host else [])}
            return self.oauth.handle_token(request.method, request.body, audiences)
        iid = IID_PATH.fullmatch(path)
        if iid is not None and request.method == "POST":
            return handle_iid(self, iid.group(1), request.header("authorization"),
                              request.header("access_token_auth"), request.body)
        match = SEND_PATH.fullmatch(path)
        if match is None or request.method != "POST":
            # Includes the legacy /fcm/send and /batch APIs, shut down in 2024 (docs/protocols/fcm.md §1.1).
            return google_error(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")
        return self._send(match.group(1), request)

    def _send(self, project_id: str, request: SimRequest) -> SimResponse:
        authorization = request.header("authorization") or ""
        scheme, _, bearer = authorization.partition(" ")
        if not authorization or scheme.lower() != "bearer":
            return unauthenticated(missing=True)
        grant = self.oauth.lookup(bearer.strip())
        if grant is None:
            return unauthenticated(missing=False)
        if grant.project_id != project_id:
            return google_error(
                403, "PERMISSION_DENIED",
                f"Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project_id}' (or it may not exist).",
            )
        project = self.projects[project_id]
        now = self.clock()
        if project.usage.count(now) >= project.per_minute:
            return quota_exceeded(project.usage.free_in(now))
        response = self._check(project, request, now)
        # client errors count against the quota (docs/protocols/fcm.md §4.2 and §6)
        if response.status != 429:
            project.usage.add(now)
        return response

    def _check(self, project: Project, request: SimRequest, now: float) -> SimResponse:
        try:
            parsed = parse_send_request(request.body)
        except Invalid as exc:
            return google_error(
                400, "INVALID_ARGUMENT", exc.message,
                error_code="INVALID_ARGUMENT" if exc.fcm_error else None, violations=exc.violations,
            )
        topical = parsed.target in ("topic", "condition")
        limit = self.topic_size_limit if topical else self.size_limit
        size = message_size(parsed.raw)
        if size > limit:
            return google_error(
                400, "INVALID_ARGUMENT", f"Message is too big: {size} bytes, the limit is {limit}",
                error_code="INVALID_ARGUMENT",
                violations=[("message", f"Message is too big ({size} > {limit})")],
            )
        device: Device | None = None
        if not topical:
            token = parsed.value
            device = self.devices.get(token)
            if device is None and not (self.accept_any_token and WELL_FORMED_TOKEN.fullmatch(token)):
                return token_error(TokenState.INVALID) or SimResponse(500)
            if device is not None:
                if device.project_id != project.project_id:
                    return google_error(403, "PERMISSION_DENIED", "SenderId mismatch",
                                        error_code="SENDER_ID_MISMATCH")
                refused = token_error(device.state)
                if refused is not None:
                    return refused
                if device.platform is Platform.IOS and not project.apns_credential_valid:
                    return token_error(TokenState.APNS_AUTH_ERROR) or SimResponse(500)
            if not parsed.validate_only:
                wait = self.device_quota.over(token, now)
                if wait is not None:
                    return quota_exceeded(wait)
        if parsed.validate_only:
            return SimResponse.json(200, {"name": f"projects/{project.project_id}/messages/fake_message_id"})
        if not topical:
            self.device_quota.add(parsed.value, now)
        message_id = f"0:{int(now * 1000)}%{secrets.token_hex(8)}"
        name = f"projects/{project.project_id}/messages/{message_id}"
        self.delivered += 1
        self._record({
            "name": name,
            "project_id": project.project_id,
            "target": parsed.target,
            "to": parsed.value,
            "platform": device.platform.value if device is not None else None,
            "message": parsed.message,
            "http_version": request.connection.http_version,
            "time": now,
        })
        return SimResponse.json(200, {"name": name})

    def _record(self, entry: dict[str, Any]) -> None:
        self.accepted.append(entry)
        if self.max_accepted is not None and len(self.accepted) > 2 * self.max_accepted:
            del self.accepted[: len(self.accepted) - self.max_accepted]

    def knows_token(self, token: str) -> bool:
        """Issued or registered here (or any well-formed token with accept_any_token)."""
        return token in self.devices or bool(self.accept_any_token and WELL_FORMED_TOKEN.fullmatch(token))

    def topic_members(self, topic: str) -> set[str]:
        """Tokens subscribed to ``topic`` through the Instance ID API."""
        return set(self.topics.get(topic.removeprefix("/topics/"), ()))

    def messages_for(self, target: str) -> list[dict[str, Any]]:
        """Accepted messages to one token, topic or condition."""
        return [entry for entry in self.accepted if entry["to"] == target]


__all__ = ["INVALID_TOKEN_MESSAGE", "FCMSimulator", "TokenState"]
