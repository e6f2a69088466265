"""The Web Push simulator on real sockets (TLS, HTTP/1.1 and HTTP/2), driven by
independent clients: pywebpush (requests, HTTP/1.1) and httpx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from py_vapid import Vapid01, Vapid02
from pywebpush import WebPusher, webpush

from pushgate.crypto import aesgcm, ece
from pushgate.crypto.vapid import VapidKey, b64url_decode, b64url_encode
from pushgate.providers.webpush.auth import Vapid
from pushgate.simulators._base import Fault, ManualClock
from pushgate.simulators.webpush import WebPushSimulator

SUBJECT = "mailto:ops@example.com"  # what conftest's raw_push signs with
Raw = Callable[..., Awaitable[httpx.Response]]  # conftest's raw_push


def _keys(subscription: dict[str, Any]) -> tuple[bytes, bytes]:
    return b64url_decode(subscription["keys"]["p256dh"]), b64url_decode(subscription["keys"]["auth"])


def _session(ca_file: Path) -> requests.Session:
    session = requests.Session()
    session.verify = str(ca_file)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    return session


# -- pywebpush, a real third-party sender -----------------------------------------------


async def test_pywebpush_message_is_accepted_and_decrypted(
    sim: WebPushSimulator, ca_file: Path, vapid_key: VapidKey
) -> None:
    subscription = sim.subscribe()
    session = _session(ca_file)
    response = await asyncio.to_thread(
        webpush,
        subscription,
        json.dumps({"title": "from pywebpush"}),
        vapid_private_key=vapid_key.private_raw(),
        vapid_claims={"sub": SUBJECT},
        ttl=120,
        requests_session=session,
    )
    session.close()
    assert response.status_code == 201
    assert response.headers["Location"].startswith(sim.origin + "/m/")
    assert response.headers["TTL"] == "120"
    (record,) = sim.accepted
    assert record["payload"] == {"title": "from pywebpush"}
    assert record["encoding"] == "aes128gcm"
    assert record["http_version"] == "1.1"
    assert record["vapid"]["scheme"] == "vapid"
    assert record["vapid"]["claims"]["sub"] == SUBJECT


async def test_pywebpush_restricted_subscription_with_its_key(
    sim: WebPushSimulator, ca_file: Path, vapid_key: VapidKey
) -> None:
    subscription = sim.subscribe(vapid_key.application_server_key)
    assert "/wpush/v2/" in subscription["endpoint"]
    session = _session(ca_file)
    response = await asyncio.to_thread(
        webpush, subscription, "plain text", vapid_private_key=vapid_key.private_raw(),
        vapid_claims={"sub": SUBJECT}, ttl=60, requests_session=session,
    )
    session.close()
    assert response.status_code == 201
    assert sim.accepted[0]["plaintext"] == "plain text"
    assert sim.accepted[0]["payload"] is None


async def test_pywebpush_legacy_aesgcm_behind_the_flag(sim: WebPushSimulator, ca_file: Path) -> None:
    subscription = sim.subscribe()
    session = _session(ca_file)

    def send() -> requests.Response:
        result = WebPusher(subscription, requests_session=session).send(
            "legacy body", ttl=30, content_encoding="aesgcm"
        )
        assert isinstance(result, requests.Response)
        return result

    refused = await asyncio.to_thread(send)
    assert refused.status_code == 400
    assert refused.json()["errno"] == 110
    sim.set_options(allow_aesgcm=True)
    accepted = await asyncio.to_thread(send)
    session.close()
    assert accepted.status_code == 201
    assert sim.accepted[0]["plaintext"] == "legacy body"
    assert sim.accepted[0]["encoding"] == "aesgcm"


async def test_legacy_webpush_authorization_scheme(sim: WebPushSimulator, ca_file: Path) -> None:
    """``Authorization: WebPush <jwt>`` with ``Crypto-Key: p256ecdsa=`` (autopush still takes it)."""
    signer = Vapid01()
    signer.generate_keys()
    subscription = sim.subscribe()
    headers = signer.sign({"sub": SUBJECT, "aud": sim.origin, "exp": int(sim.clock()) + 3600})
    assert headers["Authorization"].startswith("WebPush ")
    session = _session(ca_file)

    def send() -> requests.Response:
        result = WebPusher(subscription, requests_session=session).send("old", headers=dict(headers), ttl=5)
        assert isinstance(result, requests.Response)
        return result

    assert (await asyncio.to_thread(send)).status_code == 201
    assert sim.accepted[0]["vapid"]["scheme"] == "webpush"
    sim.set_mode("apple")
    refused = await asyncio.to_thread(send)
    session.close()
    assert refused.status_code == 403
    assert refused.json() == {"reason": "BadJwtToken"}


# -- request checks (docs/protocols/webpush.md §8) -------------------------------------------------


async def test_success_answer_over_http2(sim: WebPushSimulator, raw_push: Raw) -> None:
    subscription = sim.subscribe()
    response = await raw_push(subscription, headers={"ttl": "99999999", "urgency": "high", "topic": "news"})
    assert response.status_code == 201
    assert response.http_version == "HTTP/2"
    assert response.headers["ttl"] == str(30 * 24 * 3600)  # clamped and echoed
    assert response.headers["location"].startswith(sim.origin + "/m/")
    record = sim.accepted[0]
    assert (record["urgency"], record["topic"], record["status"]) == ("high", "news", "delivered")
    assert record["http_version"] == "2"
    assert "authorization" not in record["headers"]


@pytest.mark.parametrize(
    ("ttl", "errno"), [(None, 111), ("soon", 111), ("1.5", 111), ("-1", 114)]
)
async def test_ttl_rules(sim: WebPushSimulator, raw_push: Raw, ttl: str | None, errno: int) -> None:
    response = await raw_push(sim.subscribe(), headers={"ttl": ttl})
    assert response.status_code == 400
    assert response.json()["errno"] == errno
    sim.set_mode("apple")
    response = await raw_push(sim.subscribe(), headers={"ttl": ttl})
    assert response.json() == {"reason": "BadTtl"}


async def test_urgency_must_be_one_of_four(sim: WebPushSimulator, raw_push: Raw) -> None:
    subscription = sim.subscribe()
    for value in ("very-low", "low", "normal", "high"):
        assert (await raw_push(subscription, headers={"urgency": value})).status_code == 201
    sim.set_mode("apple")
    response = await raw_push(subscription, headers={"urgency": "urgent"})
    assert (response.status_code, response.json()) == (400, {"reason": "BadUrgency"})


async def test_topic_rules_and_apples_length_quirk(sim: WebPushSimulator, raw_push: Raw) -> None:
    subscription = sim.subscribe()
    too_long = await raw_push(subscription, headers={"topic": "a" * 33})
    assert (too_long.status_code, too_long.json()["errno"]) == (400, 113)
    bad_chars = await raw_push(subscription, headers={"topic": "no spaces"})
    assert bad_chars.status_code == 400
    assert (await raw_push(subscription, headers={"topic": "frenz-ai-done"})).status_code == 201
    sim.set_mode("apple")
    quirk = await raw_push(subscription, headers={"topic": "frenz-ai-done"})  # 13 ≡ 1 (mod 4)
    assert (quirk.status_code, quirk.json()) == (400, {"reason": "BadWebPushTopic"})


async def test_encoding_headers(sim: WebPushSimulator, raw_push: Raw) -> None:
    subscription = sim.subscribe()
    missing = await raw_push(subscription, headers={"content-encoding": None})
    assert (missing.status_code, missing.json()["errno"]) == (400, 110)
    with_salt = await raw_push(subscription, headers={"encryption": "salt=" + b64url_encode(b"s" * 16)})
    assert with_salt.status_code == 400
    with_dh = await raw_push(subscription, headers={"crypto-key": "dh=BAAA"})
    assert with_dh.status_code == 400
    aesgcm_off = await raw_push(subscription, headers={"content-encoding": "aesgcm"})
    assert aesgcm_off.status_code == 400


async def test_body_that_does_not_decrypt_is_refused(sim: WebPushSimulator, raw_push: Raw) -> None:
    subscription = sim.subscribe()
    other = sim.subscribe()
    wrong_keys = ece.encrypt(b"x", *_keys(other))
    response = await raw_push(subscription, body=wrong_keys)
    assert response.status_code == 400
    assert "Decryption failed" in response.json()["message"]
    garbage = await raw_push(subscription, body=b"\x00" * 120)
    assert garbage.status_code == 400
    assert sim.accepted == []


async def test_empty_body_needs_no_encoding(sim: WebPushSimulator, raw_push: Raw) -> None:
    response = await raw_push(sim.subscribe(), body=b"", headers={"content-encoding": None})
    assert response.status_code == 201
    assert sim.accepted[0]["plaintext"] == ""


async def test_body_size_limit(sim: WebPushSimulator, raw_push: Raw) -> None:
    subscription = sim.subscribe()
    fits = await raw_push(subscription, b"x" * ece.MAX_PLAINTEXT)
    assert fits.status_code == 201
    big = await raw_push(subscription, b"x" * 4000, headers={})
    assert (big.status_code, big.json()["errno"]) == (413, 104)
    sim.set_options(max_body=8192)
    assert (await raw_push(subscription, b"x" * 4000)).status_code == 201


@pytest.mark.parametrize(
    ("mode", "missing", "mismatch"),
    [
        ("autopush", (401, 109), (401, 109)),
        ("apple", (403, "BadJwtToken"), (403, "VapidPkHashMismatch")),
        ("fcm", (401, None), (403, None)),
    ],
)
async def test_restricted_subscription(
    sim: WebPushSimulator, raw_push: Raw, vapid_key: VapidKey, mode: str,
    missing: tuple[int, Any], mismatch: tuple[int, Any],
) -> None:
    sim.set_mode(mode)
    bound = sim.subscribe(VapidKey.generate().application_server_key)

    def code(response: httpx.Response) -> Any:
        if mode == "autopush":
            return response.json()["errno"]
        return response.json()["reason"] if mode == "apple" else None

    no_vapid = await raw_push(bound, vapid_header=False)
    assert (no_vapid.status_code, code(no_vapid)) == missing
    other_key = await raw_push(bound)
    assert (other_key.status_code, code(other_key)) == mismatch
    # Each service words the mismatch its own way (docs/protocols/webpush.md §5).
    if mode == "autopush":
        assert other_key.json()["message"] == "VAPID public key mismatch"
    if mode == "fcm":
        assert "do not correspond to the credentials used to create the subscriptions" in other_key.text
        assert "correspond" not in no_vapid.text
    mine = sim.subscribe(vapid_key.application_server_key)
    assert (await raw_push(mine)).status_code == 201


async def test_vapid_claims(
    sim: WebPushSimulator, raw_push: Raw, vapid_key: VapidKey, clock: ManualClock
) -> None:
    subscription = sim.subscribe()
    k = vapid_key.application_server_key

    def header(claims: dict[str, object]) -> str:
        return f"vapid t={vapid_key.sign_jwt(claims)}, k={k}"

    now = int(clock())
    cases: dict[str, dict[str, object]] = {
        "wrong aud": {"aud": "https://push.example.net", "exp": now + 60, "sub": SUBJECT},
        "expired": {"aud": sim.origin, "exp": now - 1, "sub": SUBJECT},
        "too far": {"aud": sim.origin, "exp": now + 25 * 3600, "sub": SUBJECT},
        "no exp": {"aud": sim.origin, "sub": SUBJECT},
    }
    for name, claims in cases.items():
        response = await raw_push(subscription, headers={"authorization": header(claims)})
        assert (response.status_code, response.json()["errno"]) == (401, 109), name
    forged = header({"aud": sim.origin, "exp": now + 60, "sub": SUBJECT}).replace(
        k, VapidKey.generate().application_server_key
    )
    assert (await raw_push(subscription, headers={"authorization": forged})).status_code == 401
    no_k = await raw_push(subscription, headers={"authorization": "vapid t=abc"})
    assert no_k.status_code == 401
    # autopush only logs a bad sub; Apple refuses it.
    lax = header({"aud": sim.origin, "exp": now + 60, "sub": "admin@example.com"})
    assert (await raw_push(subscription, headers={"authorization": lax})).status_code == 201
    assert sim.accepted[-1]["vapid"]["warnings"]
    sim.set_mode("apple")
    strict = await raw_push(subscription, headers={"authorization": lax})
    assert (strict.status_code, strict.json()) == (403, {"reason": "BadJwtToken"})
    localhost = header({"aud": sim.origin, "exp": now + 60, "sub": "https://localhost/contact"})
    assert (await raw_push(subscription, headers={"authorization": localhost})).status_code == 403


async def test_vapid_key_in_standard_base64_is_accepted(
    sim: WebPushSimulator, raw_push: Raw, vapid_key: VapidKey, clock: ManualClock
) -> None:
    import base64

    token = vapid_key.sign_jwt({"aud": sim.origin, "exp": int(clock()) + 60, "sub": SUBJECT})
    k = base64.b64encode(vapid_key.public_bytes).decode()
    response = await raw_push(sim.subscribe(), headers={"authorization": f"vapid t={token},k={k}"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("mode", "unknown", "gone", "expired"),
    [
        ("autopush", 102, 106, 103),
        ("apple", "BadDeviceToken", "Unregistered", "ExpiredToken"),
    ],
)
async def test_subscription_states(
    sim: WebPushSimulator, raw_push: Raw, mode: str, unknown: Any, gone: Any, expired: Any
) -> None:
    sim.set_mode(mode)
    key = "errno" if mode == "autopush" else "reason"
    subscription = sim.subscribe()
    missing = dict(subscription, endpoint=sim.origin + "/wpush/v1/nope")
    response = await raw_push(missing)
    assert (response.status_code, response.json()[key]) == (404, unknown)
    sim.unsubscribe(subscription["endpoint"])
    response = await raw_push(subscription)
    assert (response.status_code, response.json()[key]) == (410, gone)
    if mode == "autopush":
        assert response.headers["cache-control"] == "max-age=86400"
    other = sim.subscribe()
    sim.expire(other["endpoint"])
    response = await raw_push(other)
    assert (response.status_code, response.json()[key]) == (410, expired)


async def test_fcm_mode_plain_text_errors(sim: WebPushSimulator, raw_push: Raw) -> None:
    sim.set_mode("fcm")
    subscription = sim.subscribe()
    sim.unsubscribe(subscription["endpoint"])
    response = await raw_push(subscription)
    assert response.status_code == 410
    assert response.headers["content-type"].startswith("text/plain")
    assert "unsubscribed or expired" in response.text


async def test_expiration_time_on_the_clock(sim: WebPushSimulator, raw_push: Raw, clock: ManualClock) -> None:
    subscription = sim.subscribe(expiration_time=int((clock() + 3600) * 1000))
    assert (await raw_push(subscription)).status_code == 201
    clock.advance(3601)
    assert (await raw_push(subscription)).status_code == 410


async def test_rate_limit_with_retry_after(sim: WebPushSimulator, raw_push: Raw, clock: ManualClock) -> None:
    subscription = sim.subscribe()
    sim.set_rate_limit(2, window=60)
    assert (await raw_push(subscription)).status_code == 201
    clock.advance(10)
    assert (await raw_push(subscription)).status_code == 201
    limited = await raw_push(subscription)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "50"
    clock.advance(50)
    assert (await raw_push(subscription)).status_code == 201
    sim.set_rate_limit(None)


async def test_injected_faults(sim: WebPushSimulator, raw_push: Raw) -> None:
    subscription = sim.subscribe()
    sim.queue_fault(Fault(status=503, headers=[("retry-after", "120")]))
    response = await raw_push(subscription)
    assert (response.status_code, response.headers["retry-after"]) == (503, "120")
    assert (await raw_push(subscription)).status_code == 201


async def test_offline_browser_topic_replacement_ttl0_and_delivery(
    sim: WebPushSimulator, raw_push: Raw, clock: ManualClock
) -> None:
    subscription = sim.subscribe()
    endpoint = subscription["endpoint"]
    sim.set_online(False, endpoint)
    await raw_push(subscription, b'{"n":1}', headers={"topic": "score"})
    await raw_push(subscription, b'{"n":2}', headers={"topic": "score"})
    dropped = await raw_push(subscription, b'{"n":3}', headers={"ttl": "0"})
    assert dropped.status_code == 201
    await raw_push(subscription, b'{"n":4}', headers={"ttl": "5"})
    assert [r["payload"]["n"] for r in sim.pending(endpoint)] == [2, 4]
    assert [r["status"] for r in sim.accepted] == ["replaced", "pending", "dropped", "pending"]
    clock.advance(10)  # the TTL-5 message expires while the browser is away
    sim.set_online(True, endpoint)
    assert [r["payload"]["n"] for r in sim.inbox(endpoint)] == [2]
    assert sim.accepted[3]["status"] == "expired"


async def test_delete_cancels_an_undelivered_message(
    sim: WebPushSimulator, raw_push: Raw, http: httpx.AsyncClient
) -> None:
    subscription = sim.subscribe()
    sim.set_online(False)
    location = (await raw_push(subscription)).headers["location"]
    assert (await http.delete(location)).status_code == 204
    assert sim.accepted[0]["status"] == "deleted"
    assert (await http.delete(location)).status_code == 404
    assert (await http.get(location)).status_code == 405
    assert (await http.post(sim.origin + "/elsewhere")).status_code == 404


async def test_control_api_over_http(sim: WebPushSimulator, raw_push: Raw, http: httpx.AsyncClient) -> None:
    control = sim.origin + "/__control/"
    key = VapidKey.generate().application_server_key
    subscription = (await http.post(control + "subscribe", json={"application_server_key": key})).json()
    assert set(subscription) == {"endpoint", "expirationTime", "keys"}
    assert len(subscription["keys"]["p256dh"]) == 87
    assert len(subscription["keys"]["auth"]) == 22
    listed = (await http.get(control + "subscriptions")).json()["subscriptions"]
    assert listed[0]["restricted"] is True
    assert "private" not in json.dumps(listed)
    plain = (await http.post(control + "subscribe", json={})).json()
    assert (await http.post(control + "online", json={"online": False})).status_code == 200
    await raw_push(plain)
    assert len((await http.get(control + "pending")).json()["pending"]) == 1
    accepted = (await http.get(control + "accepted")).json()["accepted"]
    assert accepted[0]["payload"] == {"title": "hi"}
    gone = await http.post(control + "unsubscribe", json={"subscription": plain["endpoint"]})
    assert gone.status_code == 200
    assert (await raw_push(plain)).status_code == 410
    await http.post(control + "state", json={"subscription": plain["endpoint"], "state": "active"})
    await http.post(control + "rate_limit", json={"limit": 0, "subscription": plain["endpoint"]})
    assert (await raw_push(plain)).status_code == 429
    assert (await http.post(control + "mode", json={"mode": "apple"})).status_code == 200
    assert sim.mode == "apple"
    assert (await http.post(control + "mode", json={"mode": "nope"})).status_code == 400
    unknown = await http.post(control + "state", json={"subscription": "x", "state": "active"})
    assert unknown.status_code == 400
    options = (await http.post(control + "options", json={"max_body": 5000})).json()
    assert options["max_body"] == 5000
    demo = (await http.get(control + "demo")).json()
    assert demo == sim.demo_credentials()


async def test_demo_credentials_work_against_the_simulator(
    sim: WebPushSimulator, raw_push: Raw, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    demo = sim.demo_credentials()
    json.dumps(demo)
    assert demo["allowed_hosts"] == [sim.origin.split("//")[1]]
    signer = Vapid(demo["vapid_private_key"], demo["vapid_subject"], clock=clock)
    assert signer.key.application_server_key == demo["vapid_public_key"]
    subscription = sim.subscribe(demo["vapid_public_key"])
    body = ece.encrypt(b"demo", *_keys(subscription))
    authorization = await signer.header(sim.origin)
    response = await http.post(
        subscription["endpoint"], content=body,
        headers={"ttl": "0", "content-encoding": "aes128gcm", "authorization": authorization},
    )
    assert response.status_code == 201


def test_constructible_without_arguments() -> None:
    simulator = WebPushSimulator()
    assert simulator.mode == "autopush"
    assert simulator.ca is not None
    with pytest.raises(RuntimeError):
        simulator.demo_credentials()  # needs the running URL


async def test_aesgcm_from_our_own_encoder(sim: WebPushSimulator, raw_push: Raw) -> None:
    sim.set_options(allow_aesgcm=True)
    subscription = sim.subscribe()
    body, salt, dh = aesgcm.encrypt_aesgcm(b"old school", *_keys(subscription))
    response = await raw_push(
        subscription, body=body,
        headers={"content-encoding": "aesgcm", "encryption": f"salt={b64url_encode(salt)}",
                 "crypto-key": f"dh={b64url_encode(dh)};p256ecdsa=ignored"},
    )
    assert response.status_code == 201
    assert sim.accepted[0]["plaintext"] == "old school"
    no_salt = await raw_push(subscription, body=body, headers={"content-encoding": "aesgcm"})
    assert no_salt.status_code == 400


def test_vapid02_header_shape_parses() -> None:
    """py_vapid's RFC 8292 signer produces what the simulator parses."""
    from pushgate.simulators import _webpush_checks as checks

    signer = Vapid02()
    signer.generate_keys()
    headers = signer.sign({"sub": SUBJECT, "aud": "https://x.example", "exp": 2_000_000_000})
    auth = checks.parse_authorization(headers["Authorization"], None, legacy=False)
    assert auth is not None
    assert auth.scheme == "vapid"
    assert len(auth.key) == 65
