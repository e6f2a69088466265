"""The FCM simulator on its own, driven with httpx over TLS (HTTP/2 and HTTP/1.1).

Each test maps to an item of docs/protocols/fcm.md §8.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pushgate.providers.fcm.auth import ServiceAccount, ServiceAccountAuth
from pushgate.simulators._base import ManualClock
from pushgate.simulators.fcm import INVALID_TOKEN_MESSAGE, FCMSimulator

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
APNS_ERROR = "type.googleapis.com/google.firebase.fcm.v1.ApnsError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class Api:
    """A bare HTTP/2 client holding an access token for one project."""

    def __init__(self, sim: FCMSimulator, http: httpx.AsyncClient, token: str, project: str) -> None:
        self.sim, self.http, self.token, self.project = sim, http, token, project

    async def send(self, body: Any, *, token: str | None = None, project: str | None = None,
                   raw: bytes | None = None) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if (token or self.token) != "-":
            headers["authorization"] = f"Bearer {token or self.token}"
        url = f"{self.sim.url}/v1/projects/{project or self.project}/messages:send"
        if raw is not None:
            return await self.http.post(url, content=raw, headers=headers)
        return await self.http.post(url, json=body, headers=headers)

    async def message(self, message: dict[str, Any], **options: Any) -> httpx.Response:
        return await self.send({"message": message}, **options)

    async def control(self, method: str, name: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"{self.sim.url}/__control/{name}", json=body)
        assert response.status_code == 200, response.text
        return response.json()


async def access_token(sim: FCMSimulator, account: dict[str, Any], ca_file: Path, clock: ManualClock) -> str:
    auth = ServiceAccountAuth(ServiceAccount.load(account), verify=ca_file, clock=clock)
    try:
        return await auth.token()
    finally:
        await auth.aclose()


@pytest.fixture
async def api(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, clock: ManualClock
) -> AsyncIterator[Api]:
    token = await access_token(sim, service_account, ca_file, clock)
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file), http2=True) as http:
        yield Api(sim, http, token, "demo-project")


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def detail(response: httpx.Response, kind: str) -> dict[str, Any] | None:
    return next((d for d in error_of(response).get("details", []) if d["@type"] == kind), None)


def error_code(response: httpx.Response) -> str | None:
    found = detail(response, FCM_ERROR)
    return found["errorCode"] if found else None


def violations(response: httpx.Response) -> list[dict[str, str]]:
    found = detail(response, BAD_REQUEST)
    return found["fieldViolations"] if found else []


# -- success, dry run, legacy -------------------------------------------------------------

async def test_success_is_recorded_over_http2(api: Api, sim: FCMSimulator) -> None:
    response = await api.message({"token": "dev-1", "notification": {"title": "Hi"}, "data": {"k": "v"}})
    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    name = response.json()["name"]
    assert name.startswith("projects/demo-project/messages/")
    [entry] = sim.messages_for("dev-1")
    assert entry["name"] == name
    assert entry["message"]["data"] == {"k": "v"}
    assert entry["http_version"] == "2"


async def test_validate_only_records_nothing(api: Api, sim: FCMSimulator) -> None:
    response = await api.send({"message": {"token": "dev-1", "data": {"a": "b"}}, "validate_only": True})
    assert response.status_code == 200
    assert response.json()["name"] == "projects/demo-project/messages/fake_message_id"
    assert sim.accepted == []
    bad = await api.send({"message": {"token": "bad token"}, "validateOnly": True})
    assert bad.status_code == 400  # a dry run still checks the token


@pytest.mark.parametrize("path", ["/fcm/send", "/batch", "/v1/projects/demo-project/messages"])
async def test_legacy_and_unknown_paths_are_404(api: Api, path: str) -> None:
    response = await api.http.post(f"{api.sim.url}{path}", json={})
    assert response.status_code == 404
    assert error_of(response)["status"] == "NOT_FOUND"


async def test_http11_is_served_too(sim: FCMSimulator, api: Api, ca_file: Path) -> None:
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file)) as http:
        response = await http.post(
            f"{sim.url}/v1/projects/demo-project/messages:send",
            json={"message": {"topic": "news", "data": {"a": "b"}}},
            headers={"authorization": f"Bearer {api.token}"},
        )
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"


# -- auth ---------------------------------------------------------------------------------

async def test_missing_bad_and_expired_bearer_are_401_without_fcm_error(api: Api, clock: ManualClock) -> None:
    message = {"token": "dev-1", "data": {"a": "b"}}
    for token in ("-", "ya29.not-issued"):
        response = await api.message(message, token=token)
        assert response.status_code == 401
        assert error_of(response)["status"] == "UNAUTHENTICATED"
        assert "details" not in error_of(response)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await api.message(message)).status_code == 200
    clock.advance(3599)
    assert (await api.message(message)).status_code == 401
    assert error_code(await api.message(message)) is None


async def test_revoked_access_tokens_are_401(api: Api) -> None:
    assert await api.control("POST", "revoke_access_tokens", {}) == {"revoked": 1}
    assert (await api.message({"token": "dev-1"})).status_code == 401


async def test_token_of_another_project_is_permission_denied(
    api: Api, sim: FCMSimulator, ca_file: Path, clock: ManualClock
) -> None:
    other = await api.control("POST", "projects", {"project_id": "other-project"})
    assert other["project_id"] == "other-project"
    assert other["token_uri"] == f"{sim.url}/token"
    token = await access_token(sim, other, ca_file, clock)
    response = await api.message({"token": "dev-1"}, token=token)
    assert response.status_code == 403
    assert error_of(response)["status"] == "PERMISSION_DENIED"
    assert (await api.message({"token": "dev-1"}, token=token, project="other-project")).status_code == 200


# -- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("message", "field", "text"),
    [
        ({"token": "t", "bogus": 1}, "message", 'Unknown name "bogus"'),
        ({"token": "t", "android": {"nope": 1}}, "message.android", 'Unknown name "nope"'),
        ({"token": "t", "data": {"a": "x", "n": 12}}, "message.data[1].value",
         "Invalid value at 'message.data[1].value' (TYPE_STRING), 12"),
        ({"token": "t", "topic": "news"}, "message", "oneof field 'target' is already set"),
        ({"data": {"a": "b"}}, "message", "Recipient of the message is not set."),
        ({"token": "t", "data": {"from": "x"}}, "message.data", "reserved"),
        ({"token": "t", "data": {"google.x": "x"}}, "message.data", "reserved"),
        ({"token": "t", "android": {"ttl": "86400"}}, "message.android.ttl", "Duration"),
        ({"token": "t", "android": {"ttl": "1.0000000001s"}}, "message.android.ttl", "Duration"),
        ({"token": "t", "android": {"ttl": "2419201s"}}, "message.android.ttl", "maximum"),
        ({"token": "t", "android": {"priority": "urgent"}}, "message.android.priority",
         "AndroidMessagePriority"),
        ({"token": "t", "android": {"notification": {"visibility": "HIDDEN"}}},
         "message.android.notification.visibility", "Visibility"),
        ({"token": "t", "android": {"notification": {"color": "red"}}}, "message.android.notification.color",
         "#RRGGBB"),
        ({"token": "t", "webpush": {"fcm_options": {"link": "http://x"}}}, "message.webpush.fcm_options.link",
         "HTTPS"),
        ({"token": "t", "fcm_options": {"analytics_label": "bad label!"}},
         "message.fcm_options.analytics_label", "Analytics label"),
        ({"condition": "'a' in topics &&"}, "message.condition", "condition"),
        ({"condition": " || ".join(f"'t{i}' in topics" for i in range(6))}, "message.condition", "at most 5"),
        ({"topic": "bad topic"}, "message.topic", "topic"),
        ({"token": "t", "notification": {"title": 5}}, "message.notification.title", "TYPE_STRING"),
        ({"token": "t", "apns": {"headers": {"apns-priority": 10}}}, "message.apns.headers[0].value",
         "TYPE_STRING"),
    ],
)
async def test_validation_errors(api: Api, message: dict[str, Any], field: str, text: str) -> None:
    response = await api.message(message)
    assert response.status_code == 400, response.text
    assert error_of(response)["status"] == "INVALID_ARGUMENT"
    found = violations(response)
    assert any(v["field"] == field and text in v["description"] for v in found), found


async def test_request_level_errors(api: Api) -> None:
    for raw in (b"{not json", b"[1]", b'{"message":{"token":"t"},"extra":1}', b'{"message":{"token":"t"},'
                b'"validate_only":"yes"}'):
        response = await api.send(None, raw=raw)
        assert response.status_code == 400, raw
        assert violations(response)


async def test_camel_case_and_enum_numbers_are_accepted(api: Api) -> None:
    response = await api.message({
        "token": "t",
        "android": {"collapseKey": "k", "priority": "high", "ttl": "3.5s",
                    "notification": {"clickAction": "x", "notificationCount": 2, "visibility": 2,
                                     "eventTime": "2026-01-01T00:00:00Z", "vibrateTimings": ["1s", "0.5s"]}},
        "apns": {"payload": {"aps": {"badge": 1}}, "fcmOptions": {"analyticsLabel": "a.b~c"}},
        "webpush": {"fcmOptions": {"link": "https://example.com"}, "notification": {"anything": [1]}},
    })
    assert response.status_code == 200, response.text


async def test_size_limits(api: Api, sim: FCMSimulator) -> None:
    def sized(total: int, target: dict[str, str]) -> dict[str, Any]:
        overhead = len('{"data":{"k":""}}')
        return {**target, "data": {"k": "x" * (total - overhead)}}

    assert (await api.message(sized(4096, {"token": "t"}))).status_code == 200
    too_big = await api.message(sized(4097, {"token": "t"}))
    assert too_big.status_code == 400
    assert error_code(too_big) == "INVALID_ARGUMENT"
    assert (await api.message(sized(2048, {"topic": "news"}))).status_code == 200
    assert (await api.message(sized(2049, {"topic": "news"}))).status_code == 400
    assert (await api.message(sized(2049, {"condition": "'a' in topics"}))).status_code == 400
    sim.topic_size_limit = 4096
    assert (await api.message(sized(2049, {"topic": "news"}))).status_code == 200


# -- token states ---------------------------------------------------------------------------

async def test_token_states(api: Api, sim: FCMSimulator) -> None:
    other = await api.control("POST", "tokens", {"project_id": "elsewhere"})
    cases: dict[str, tuple[int, str, tuple[int, str] | None]] = {
        "bad token!": (400, "INVALID_ARGUMENT", None),
        other["token"]: (403, "SENDER_ID_MISMATCH", None),
    }
    for state, expected in {
        "unregistered": (404, "UNREGISTERED", None),
        "invalid": (400, "INVALID_ARGUMENT", None),
        "apns_auth_error": (401, "THIRD_PARTY_AUTH_ERROR", (403, "InvalidProviderToken")),
        "apns_disabled": (400, "INVALID_ARGUMENT", (410, "Unregistered")),
        "apns_unregistered": (404, "UNREGISTERED", (410, "Unregistered")),
    }.items():
        created = await api.control("POST", "tokens", {"platform": "ios"})
        await api.control("POST", "token_state", {"token": created["token"], "state": state})
        cases[created["token"]] = expected
    for token, (status, code, apns) in cases.items():
        response = await api.message({"token": token, "data": {"a": "b"}})
        assert response.status_code == status, (token, response.text)
        assert error_code(response) == code
        found = detail(response, APNS_ERROR)
        if apns:
            assert found is not None
            assert (found["statusCode"], found["reason"]) == apns
        else:
            assert found is None
    invalid = await api.message({"token": "bad token!"})
    assert error_of(invalid)["message"] == INVALID_TOKEN_MESSAGE
    listed = await api.control("GET", "tokens")
    assert listed["tokens"][other["token"]]["project_id"] == "elsewhere"


async def test_broken_apns_credential_affects_ios_tokens(api: Api) -> None:
    ios = (await api.control("POST", "tokens", {"platform": "ios"}))["token"]
    android = (await api.control("POST", "tokens", {"platform": "android"}))["token"]
    await api.control("POST", "apns_credential", {"project_id": "demo-project", "valid": False})
    assert error_code(await api.message({"token": ios})) == "THIRD_PARTY_AUTH_ERROR"
    assert (await api.message({"token": android})).status_code == 200


async def test_strict_tokens(api: Api, sim: FCMSimulator) -> None:
    sim.accept_any_token = False
    unknown = await api.message({"token": "never-registered"})
    assert unknown.status_code == 400
    assert error_of(unknown)["message"] == INVALID_TOKEN_MESSAGE
    known = sim.register_token()
    assert (await api.message({"token": known})).status_code == 200
    assert (await api.message({"fid": known})).status_code == 200


# -- quotas and injected errors -------------------------------------------------------------

async def test_project_quota_rolling_minute_counts_client_errors(api: Api, clock: ManualClock) -> None:
    await api.control("POST", "quotas", {"project_per_minute": 3})
    assert (await api.message({"token": "a"})).status_code == 200
    assert (await api.message({"token": "bad token!"})).status_code == 400  # counts
    clock.advance(30)
    assert (await api.message({"token": "b"})).status_code == 200
    limited = await api.message({"token": "c"})
    assert limited.status_code == 429
    assert error_of(limited)["status"] == "RESOURCE_EXHAUSTED"
    assert error_code(limited) == "QUOTA_EXCEEDED"
    assert int(limited.headers["retry-after"]) >= 1
    clock.advance(30)  # the first two leave the window
    assert (await api.message({"token": "c"})).status_code == 200
    assert (await api.message({"token": "d"})).status_code == 200
    assert (await api.message({"token": "e"})).status_code == 429


async def test_device_quota_per_minute_and_hour(api: Api, clock: ManualClock) -> None:
    await api.control("POST", "quotas", {"device_per_minute": 2, "device_per_hour": 3})
    assert [(await api.message({"token": "dev"})).status_code for _ in range(3)] == [200, 200, 429]
    assert (await api.message({"token": "other"})).status_code == 200
    clock.advance(61)
    assert (await api.message({"token": "dev"})).status_code == 200
    hourly = await api.message({"token": "dev"})
    assert hourly.status_code == 429
    assert error_code(hourly) == "QUOTA_EXCEEDED"
    clock.advance(3600)
    api.token = api.sim.oauth.issue("demo-project", "test")  # the first one expired meanwhile
    assert (await api.message({"token": "dev"})).status_code == 200


async def test_injected_errors(api: Api) -> None:
    await api.control("POST", "errors", {"status": 503, "retry_after": 7})
    await api.control("POST", "errors", {"status": 500})
    unavailable = await api.message({"token": "a"})
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "7"
    assert error_of(unavailable)["status"] == "UNAVAILABLE"
    internal = await api.message({"token": "a"})
    assert internal.status_code == 500
    assert error_of(internal)["status"] == "INTERNAL"
    assert (await api.message({"token": "a"})).status_code == 200


# -- construction and control -----------------------------------------------------------------

async def test_no_argument_construction_and_demo_credentials(ca_file: Path) -> None:
    sim = FCMSimulator()
    url = await sim.start()
    try:
        demo = sim.demo_credentials()
        assert demo["base_url"] == url
        assert demo["project_id"] == "demo-project"
        account = demo["service_account"]
        assert account["type"] == "service_account"
        assert account["token_uri"] == f"{url}/token"
        assert "BEGIN PRIVATE KEY" in account["private_key"]
        assert sim.ca is not None
        async with httpx.AsyncClient(verify=sim.ca.client_context(alpn=("h2",))) as http:
            via_control = (await http.get(f"{url}/__control/demo_credentials")).json()
        assert via_control == demo
    finally:
        await sim.stop()


async def test_register_external_service_account(api: Api, sim: FCMSimulator, ca_file: Path,
                                                 clock: ManualClock) -> None:
    external = FCMSimulator(ca=None, tls=False).create_service_account("ext-project")
    registered = await api.control("POST", "service_accounts", {**external, "private_key": None,
                                                                "public_key": public_pem(external)})
    assert registered == {"client_email": external["client_email"]}
    token = await access_token(sim, {**external, "token_uri": f"{sim.url}/token"}, ca_file, clock)
    assert (await api.message({"token": "x"}, token=token, project="ext-project")).status_code == 200


def public_pem(account: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


async def test_control_errors_are_400(api: Api) -> None:
    odd = {"token": "t", "state": "odd"}
    response = await api.http.post(f"{api.sim.url}/__control/token_state", json=odd)
    assert response.status_code == 400
    response = await api.http.post(f"{api.sim.url}/__control/tokens", json={"token": "bad token"})
    assert response.status_code == 400


async def test_reset_clears_quota_counters_but_keeps_tokens(api: Api, sim: FCMSimulator) -> None:
    token = sim.register_token(state="unregistered")
    await api.control("POST", "quotas", {"device_per_minute": 1})
    assert (await api.message({"token": "dev"})).status_code == 200
    assert (await api.message({"token": "dev"})).status_code == 429
    await api.control("POST", "reset", {})
    assert sim.accepted == []
    assert (await api.message({"token": "dev"})).status_code == 200
    assert (await api.message({"token": token})).status_code == 404
