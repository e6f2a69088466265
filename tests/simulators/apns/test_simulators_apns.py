"""The APNs simulator, driven by an independent client (httpx over HTTP/2 + pyjwt).

Every check of docs/protocols/apns.md §8 that an independent client can observe.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.simulators._base import ManualClock
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.tls import LocalCA
from tests.providers.apns.apns_helpers import RawClient, make_jwt

Headers = Callable[..., dict[str, str]]


def reason(response: httpx.Response) -> str:
    return str(response.json()["reason"])


async def test_interop_httpx_pyjwt_accepted(
    sim: APNsSimulator, raw: RawClient, auth_headers: Headers
) -> None:
    headers = auth_headers()
    token = secrets.token_hex(32)
    response = await raw.push(token, {"aps": {"alert": {"title": "hi"}}, "k": 1}, headers=headers)
    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    assert response.content == b""
    assert response.headers["apns-id"] == headers["apns-id"]
    assert "apns-unique-id" not in response.headers  # production
    [entry] = sim.accepted
    assert entry["token"] == token
    assert entry["apns_id"] == headers["apns-id"]
    assert entry["payload"] == {"aps": {"alert": {"title": "hi"}}, "k": 1}
    assert entry["headers"]["apns-topic"] == "com.example.app"


async def test_generates_lowercase_apns_id(raw: RawClient, auth_headers: Headers) -> None:
    response = await raw.push(headers=auth_headers(apns_id=None))
    assert response.status_code == 200
    generated = response.headers["apns-id"]
    assert generated == str(uuid.UUID(generated))


async def test_sandbox_sends_unique_id(clock: ManualClock, local_ca: LocalCA) -> None:
    sim = APNsSimulator(environment="sandbox", clock=clock, ca=local_ca, accept_any_token=True)
    await sim.start()
    try:
        demo = sim.demo_credentials()
        async with httpx.AsyncClient(http2=True, http1=False, verify=local_ca.client_context()) as http:
            headers = {"authorization": "bearer " + make_jwt(demo, clock()), "apns-topic": demo["topic"]}
            response = await RawClient(http, sim.url).push(headers=headers)
        assert response.status_code == 200
        uuid.UUID(response.headers["apns-unique-id"])
    finally:
        await sim.stop()


@pytest.mark.parametrize(
    ("kwargs", "status", "expected"),
    [
        ({"method": "GET"}, 405, "MethodNotAllowed"),
        ({"path": "/3/device/"}, 400, "MissingDeviceToken"),
        ({"path": "/3/device/xyz"}, 404, "BadPath"),
        ({"path": "/2/device/abcd"}, 404, "BadPath"),
        ({"body": b""}, 400, "PayloadEmpty"),
        ({"body": b"[1,2]"}, 400, "BadPayload"),
        ({"body": b"{nope"}, 400, "BadPayload"),
        ({"body": b'{"aps":{"alert":"' + b"x" * 4100 + b'"}}'}, 413, "PayloadTooLarge"),
        ({"token": "abc"}, 400, "BadDeviceToken"),  # odd length: malformed
    ],
)
async def test_request_shape_errors(
    raw: RawClient, auth_headers: Headers, kwargs: dict[str, Any], status: int, expected: str
) -> None:
    headers = auth_headers()
    response = await raw.push(headers=headers, **kwargs)
    assert (response.status_code, reason(response)) == (status, expected)
    assert response.headers["apns-id"] == headers["apns-id"]  # echoed on errors too


@pytest.mark.parametrize(
    ("override", "status", "expected"),
    [
        ({"authorization": None}, 403, "MissingProviderToken"),
        ({"authorization": "bearer not.a.jwt"}, 403, "InvalidProviderToken"),
        ({"authorization": "basic abc"}, 403, "InvalidProviderToken"),
        ({"apns_push_type": "banner"}, 400, "InvalidPushType"),
        ({"apns_topic": None}, 400, "MissingTopic"),
        ({"apns_topic": "com.other.app"}, 400, "TopicDisallowed"),
        ({"apns_topic": "com.example.app.voip"}, 400, "BadTopic"),
        ({"apns_push_type": "voip"}, 400, "BadTopic"),
        ({"apns_id": "not-a-uuid"}, 400, "BadMessageId"),
        ({"apns_expiration": "tomorrow"}, 400, "BadExpirationDate"),
        ({"apns_priority": "7"}, 400, "BadPriority"),
        ({"apns_push_type": "background", "apns_priority": "10"}, 400, "BadPriority"),
        ({"apns_collapse_id": "x" * 65}, 400, "BadCollapseId"),
    ],
)
async def test_header_errors(
    raw: RawClient, auth_headers: Headers, override: dict[str, str | None], status: int, expected: str
) -> None:
    response = await raw.push(headers=auth_headers(**override))
    assert (response.status_code, reason(response)) == (status, expected)


async def test_voip_topic_and_limit(raw: RawClient, auth_headers: Headers) -> None:
    headers = auth_headers(apns_push_type="voip", apns_topic="com.example.app.voip")
    body = b'{"aps":{},"d":"' + b"x" * 5000 + b'"}'
    assert (await raw.push(headers=headers, body=body)).status_code == 200
    big = b'{"aps":{},"d":"' + b"x" * 5110 + b'"}'
    assert (await raw.push(headers=headers, body=big)).status_code == 413


async def test_duplicate_headers(raw: RawClient, auth_headers: Headers) -> None:
    headers = [*auth_headers().items(), ("apns-priority", "10"), ("apns-priority", "5")]
    response = await raw.push(headers=headers)
    assert reason(response) == "DuplicateHeaders"


async def test_bad_signature_and_unknown_kid(raw: RawClient, auth_headers: Headers, demo: dict[str, Any],
                                             clock: ManualClock) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    hs256 = pyjwt.encode({"iss": demo["team_id"], "iat": int(clock())}, "s" * 32, algorithm="HS256",
                         headers={"kid": demo["key_id"]})
    for bad in (
        make_jwt({**demo, "key": other}, clock()),
        make_jwt({**demo, "key_id": "ZZZZZZZZZZ"}, clock()),
        make_jwt({**demo, "team_id": "ZZZZZZZZZZ"}, clock()),
        hs256,
    ):
        response = await raw.push(headers=auth_headers(authorization="bearer " + bad))
        assert (response.status_code, reason(response)) == (403, "InvalidProviderToken")


async def test_expired_provider_token(raw: RawClient, auth_headers: Headers, clock: ManualClock) -> None:
    headers = auth_headers()
    assert (await raw.push(headers=headers)).status_code == 200
    clock.advance(3601)
    response = await raw.push(headers=headers)
    assert (response.status_code, reason(response)) == (403, "ExpiredProviderToken")


async def test_too_many_provider_token_updates(
    raw: RawClient, demo: dict[str, Any], clock: ManualClock, auth_headers: Headers
) -> None:
    assert (await raw.push(headers=auth_headers())).status_code == 200
    clock.advance(600)
    fresh = "bearer " + make_jwt(demo, clock())
    response = await raw.push(headers=auth_headers(authorization=fresh))
    assert (response.status_code, reason(response)) == (429, "TooManyProviderTokenUpdates")
    assert (await raw.push(headers=auth_headers())).status_code == 200  # the old token still works
    clock.advance(601)
    assert (await raw.push(headers=auth_headers(authorization=fresh))).status_code == 200


async def test_new_connection_may_use_new_token(
    sim: APNsSimulator, local_ca: LocalCA, demo: dict[str, Any], clock: ManualClock, auth_headers: Headers
) -> None:
    async with httpx.AsyncClient(http2=True, http1=False, verify=local_ca.client_context()) as http:
        assert (await RawClient(http, sim.url).push(headers=auth_headers())).status_code == 200
    clock.advance(60)
    fresh = "bearer " + make_jwt(demo, clock())
    async with httpx.AsyncClient(http2=True, http1=False, verify=local_ca.client_context()) as http:
        response = await RawClient(http, sim.url).push(headers=auth_headers(authorization=fresh))
        assert response.status_code == 200


async def test_environment_scoped_key(raw: RawClient, sim: APNsSimulator, clock: ManualClock,
                                      auth_headers: Headers) -> None:
    creds = sim.register_key("TEAMSANDBX", environment="sandbox", topics=["com.sandbox.app"])
    token = "bearer " + make_jwt(creds, clock())
    response = await raw.push(headers=auth_headers(authorization=token, apns_topic="com.sandbox.app"))
    assert (response.status_code, reason(response)) == (403, "BadEnvironmentKeyInToken")


async def test_one_team_per_connection(raw: RawClient, sim: APNsSimulator, clock: ManualClock,
                                       auth_headers: Headers) -> None:
    assert (await raw.push(headers=auth_headers())).status_code == 200
    creds = sim.register_key("OTHERTEAM1", topics=["com.other.app"])
    clock.advance(1300)
    token = "bearer " + make_jwt(creds, clock())
    response = await raw.push(headers=auth_headers(authorization=token, apns_topic="com.other.app"))
    assert (response.status_code, reason(response)) == (403, "UnrelatedKeyIdInToken")


async def test_topic_scoped_key(raw: RawClient, sim: APNsSimulator, clock: ManualClock,
                                auth_headers: Headers) -> None:
    creds = sim.register_key("SCOPEDTEAM", topics=["com.a.app"], topic_scoped=True)
    sim.register_topics("SCOPEDTEAM", ["com.b.app"])
    token = "bearer " + make_jwt(creds, clock())
    response = await raw.push(headers=auth_headers(authorization=token, apns_topic="com.a.app"))
    assert response.status_code == 200
    response = await raw.push(headers=auth_headers(authorization=token, apns_topic="com.b.app"))
    assert reason(response) == "TopicDisallowed"


async def test_register_key_with_public_pem(raw: RawClient, sim: APNsSimulator, clock: ManualClock,
                                            auth_headers: Headers) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    creds = sim.register_key("TEAMPUBPEM", "KEYPUBPEM1", public_pem, topics=["com.example.app"])
    assert "key" not in creds
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    token = "bearer " + make_jwt({**creds, "key": private_pem}, clock())
    assert (await raw.push(headers=auth_headers(authorization=token))).status_code == 200


async def test_token_states(raw: RawClient, sim: APNsSimulator, auth_headers: Headers) -> None:
    active = sim.add_token(topic="com.example.app")
    unregistered = sim.add_token(topic="com.example.app")
    sim.set_token_state(unregistered, "unregistered", timestamp_ms=1_700_000_000_123)
    other_app = sim.add_token(topic="com.other.app")
    other_env = sim.add_token(environment="sandbox")
    cases = {
        active: (200, None),
        unregistered: (410, "Unregistered"),
        other_app: (400, "DeviceTokenNotForTopic"),
        other_env: (400, "BadDeviceToken"),
        sim.add_token(state="bad"): (400, "BadDeviceToken"),
        sim.add_token(state="wrong_topic"): (400, "DeviceTokenNotForTopic"),
        sim.add_token(state="wrong_env"): (400, "BadDeviceToken"),
        sim.add_token(state="expired"): (410, "ExpiredToken"),
    }
    for token, (status, expected) in cases.items():
        response = await raw.push(token, headers=auth_headers())
        assert response.status_code == status, token
        if expected:
            assert reason(response) == expected
    response = await raw.push(unregistered, headers=auth_headers())
    assert response.json() == {"reason": "Unregistered", "timestamp": 1_700_000_000_123}


async def test_strict_tokens(raw: RawClient, sim: APNsSimulator, auth_headers: Headers) -> None:
    sim.accept_any_token = False
    assert reason(await raw.push(secrets.token_hex(32), headers=auth_headers())) == "BadDeviceToken"
    known = sim.add_token()
    assert (await raw.push(known, headers=auth_headers())).status_code == 200


async def test_burst_limit(
    raw: RawClient, sim: APNsSimulator, clock: ManualClock, auth_headers: Headers
) -> None:
    sim.set_burst_limit(2, window=10)
    token = secrets.token_hex(32)
    assert [(await raw.push(token, headers=auth_headers())).status_code for _ in range(3)] == [200, 200, 429]
    assert reason(await raw.push(token, headers=auth_headers())) == "TooManyRequests"
    assert (await raw.push(headers=auth_headers())).status_code == 200  # another device is fine
    clock.advance(10)
    assert (await raw.push(token, headers=auth_headers())).status_code == 200


async def test_faults_carry_apns_id(raw: RawClient, sim: APNsSimulator, auth_headers: Headers) -> None:
    sim.queue_error(503, "Shutdown")
    headers = auth_headers()
    response = await raw.push(headers=headers)
    assert (response.status_code, reason(response)) == (503, "Shutdown")
    assert response.headers["apns-id"] == headers["apns-id"]
    assert (await raw.push(headers=auth_headers())).status_code == 200


async def test_store_latest_only(raw: RawClient, sim: APNsSimulator, auth_headers: Headers) -> None:
    sim.store_latest_only = True
    token = secrets.token_hex(32)
    for n in range(3):
        await raw.push(token, {"aps": {"alert": str(n)}}, headers=auth_headers())
    await raw.push(token, {"aps": {"alert": "c"}}, headers=auth_headers(apns_collapse_id="c"))
    assert [e["payload"]["aps"]["alert"] for e in sim.accepted] == ["2", "c"]
    assert sim.accepted_count == 4


async def test_http11_push_refused_but_control_works(sim: APNsSimulator, local_ca: LocalCA) -> None:
    async with httpx.AsyncClient(verify=local_ca.client_context(alpn=("http/1.1",))) as http:
        response = await http.post(sim.url + "/3/device/abcd", content=b"{}")
        assert response.http_version == "HTTP/1.1"
        assert response.status_code == 505
        health = await http.get(sim.url + "/__control/health")
        assert health.json()["name"] == "apns"


async def test_control_routes(sim: APNsSimulator, local_ca: LocalCA, clock: ManualClock) -> None:
    async with httpx.AsyncClient(verify=local_ca.client_context(alpn=("http/1.1",))) as http:
        base = sim.url + "/__control/"
        demo = (await http.get(base + "demo_credentials")).json()
        assert demo["topic"] == "com.example.app"
        assert demo["key"].startswith("-----BEGIN PRIVATE KEY-----")
        assert demo["url"] == sim.url
        assert json.loads(json.dumps(demo)) == demo
        key = (await http.post(base + "keys", json={"team_id": "TEAM000001", "topics": ["com.t"]})).json()
        assert set(key) == {"team_id", "key_id", "key"}
        topics = {"team_id": "TEAM000001", "topics": ["com.u"]}
        assert (await http.post(base + "topics", json=topics)).is_success
        assert sim.teams["TEAM000001"].topics == {"com.t", "com.u"}
        made = (await http.post(base + "tokens", json={"count": 3, "topic": "com.t"})).json()["tokens"]
        assert len(made) == 3
        await http.post(base + "token_state", json={"token": made[0], "state": "unregistered"})
        listed = (await http.get(base + "tokens")).json()["tokens"]
        assert listed[made[0]]["state"] == "unregistered"
        assert listed[made[0]]["timestamp"] == int(clock() * 1000)
        bad_state = {"token": made[0], "state": "zzz"}
        assert (await http.post(base + "token_state", json=bad_state)).status_code == 400
        await http.post(base + "burst_limit", json={"limit": 5, "window": 2})
        assert sim._bursts.limit == 5
        await http.post(base + "max_concurrent_streams", json={"value": 50})
        assert sim.max_concurrent_streams == 50
        wanted = {"topic": "com.t", "environment": "sandbox"}
        cert = (await http.post(base + "certificates", json=wanted)).json()
        assert cert["cert"].startswith("-----BEGIN CERTIFICATE-----")
        await http.post(base + "errors", json={"status": 500, "reason": "InternalServerError", "count": 2})
        await http.post(base + "goaway", json={"reason": "IdleTimeout"})
        assert len(sim._faults) == 2
        conns = (await http.get(base + "connections")).json()["connections"]
        assert conns[0]["http_version"] == "1.1"
        assert (await http.request("DELETE", base + "keys", json={"key_id": key["key_id"]})).is_success
        assert key["key_id"] not in sim.keys


async def test_stream_limit_one_until_first_success(
    sim: APNsSimulator, raw: RawClient, auth_headers: Headers
) -> None:
    assert reason(await raw.push(headers=auth_headers(apns_topic="com.nope"))) == "TopicDisallowed"
    [conn] = sim.server.connections
    assert conn.max_concurrent_streams == 1
    assert (await raw.push(headers=auth_headers())).status_code == 200
    assert conn.max_concurrent_streams == 1000


async def test_drop_streams_after_reject(sim: APNsSimulator, raw: RawClient, auth_headers: Headers) -> None:
    sim.drop_streams_after_reject = True
    assert (await raw.push(headers=auth_headers())).status_code == 200
    [conn] = sim.server.connections
    assert conn.max_concurrent_streams == 1000
    await raw.push(headers=auth_headers(apns_priority="3"))
    assert conn.max_concurrent_streams == 1
    assert (await raw.push(headers=auth_headers())).status_code == 200
    assert conn.max_concurrent_streams == 1000


async def test_certificate_auth(sim: APNsSimulator, local_ca: LocalCA, tmp_path: Path) -> None:
    issued = sim.issue_certificate("com.cert.app")
    (tmp_path / "c.pem").write_text(issued["cert"] + issued["key"])
    ctx = local_ca.client_context()
    ctx.load_cert_chain(tmp_path / "c.pem")
    async with httpx.AsyncClient(http2=True, http1=False, verify=ctx) as http:
        client = RawClient(http, sim.url)
        assert (await client.push()).status_code == 200  # no authorization, no topic: the UID
        assert sim.accepted[-1]["topic"] == "com.cert.app"
        voip = await client.push(headers={"apns-push-type": "voip"})
        assert voip.status_code == 200
        assert sim.accepted[-1]["topic"] == "com.cert.app.voip"
        assert reason(await client.push(headers={"apns-topic": "com.example.app"})) == "TopicDisallowed"
    assert sim.server.connections[-1].max_concurrent_streams == 1000  # no 1-stream start with certificates


async def test_certificate_wrong_environment(sim: APNsSimulator, local_ca: LocalCA, tmp_path: Path) -> None:
    issued = sim.issue_certificate("com.cert.app", environment="sandbox")
    (tmp_path / "c.pem").write_text(issued["cert"])
    (tmp_path / "k.pem").write_text(issued["key"])
    ctx = local_ca.client_context()
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    async with httpx.AsyncClient(http2=True, http1=False, verify=ctx) as http:
        response = await RawClient(http, sim.url).push()
    assert (response.status_code, reason(response)) == (403, "BadCertificateEnvironment")


async def test_idle_timeout_goaway(sim: APNsSimulator, raw: RawClient, clock: ManualClock,
                                   auth_headers: Headers) -> None:
    sim.idle_timeout = 300
    assert (await raw.push(headers=auth_headers())).status_code == 200
    clock.advance(301)
    # httpx retries a request refused by GOAWAY on a new connection.
    assert (await raw.push(headers=auth_headers())).status_code == 200
    assert len(sim.server.connections) == 2
