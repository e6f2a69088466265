"""The WNS simulator against docs/protocols/wns.md §8, driven with plain httpx and raw sockets."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from pushgate.simulators._base import ManualClock
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.wns import DEMO_CLIENT_ID, WNSSimulator

TOAST = b'<toast><visual><binding template="ToastGeneric"><text>hi</text></binding></visual></toast>'
CLASSIC_FORM = {"grant_type": "client_credentials", "scope": "notify.windows.com"}


async def classic_token(control: httpx.AsyncClient, sim: WNSSimulator) -> str:
    response = await control.post("/accesstoken.srf", data={
        **CLASSIC_FORM, "client_id": sim.demo_app.client_id, "client_secret": sim.demo_app.client_secret})
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
async def token(control: httpx.AsyncClient, sim: WNSSimulator) -> str:
    return await classic_token(control, sim)


def notify_headers(token: str, kind: str = "wns/toast", **extra: str) -> dict[str, str]:
    content_type = "application/octet-stream" if kind == "wns/raw" else "text/xml"
    return {"authorization": f"Bearer {token}", "x-wns-type": kind, "content-type": content_type, **extra}


async def post(
    control: httpx.AsyncClient, channel: str, token: str, body: bytes = TOAST, kind: str = "wns/toast",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    headers = notify_headers(token, kind, **(extra or {}))
    return await control.post(f"/?token={channel}", content=body, headers=headers)


async def raw_exchange(sim: WNSSimulator, request: bytes, context: ssl.SSLContext) -> bytes:
    """Send bytes exactly as given over TLS; return everything the server answers."""
    parts = urlsplit(sim.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=context)
    writer.write(request)
    await writer.drain()
    data = await reader.read()  # the request says Connection: close
    writer.close()
    await writer.wait_closed()
    return data


# -- construction ---------------------------------------------------------------------------


async def test_constructible_without_arguments_and_demo_credentials_work() -> None:
    sim = WNSSimulator()
    await sim.start()
    try:
        creds = sim.demo_credentials()
        json.dumps(creds)
        assert creds["client_id"] == DEMO_CLIENT_ID
        assert creds["token_url"] == f"{sim.url}/accesstoken.srf"
        assert creds["allowed_hosts"] == [urlsplit(sim.url).netloc]
        assert sim.ca is not None
        async with httpx.AsyncClient(verify=sim.ca.client_context(alpn=("http/1.1",))) as client:
            answer = await client.post(creds["token_url"], data={
                **CLASSIC_FORM, "client_id": creds["client_id"], "client_secret": creds["client_secret"]})
            assert answer.status_code == 200
            sent = await client.post(creds["channel_uri_example"], content=TOAST,
                                     headers=notify_headers(answer.json()["access_token"]))
            assert sent.headers["x-wns-status"] == "received"
    finally:
        await sim.stop()


async def test_only_http_1_1_is_spoken(sim: WNSSimulator, local_ca: LocalCA) -> None:
    context = local_ca.client_context(alpn=("h2", "http/1.1"))
    async with httpx.AsyncClient(http2=True, verify=context) as client:
        response = await client.get(sim.url + "/__control/health")
    assert response.http_version == "HTTP/1.1"


# -- token endpoints ------------------------------------------------------------------------


async def test_classic_token_response(control: httpx.AsyncClient, sim: WNSSimulator) -> None:
    response = await control.post("/accesstoken.srf", data={
        **CLASSIC_FORM, "client_id": sim.demo_app.client_id, "client_secret": sim.demo_app.client_secret})
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 86400)
    assert isinstance(body["access_token"], str)
    assert body["access_token"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"scope": "https://wns.windows.com/.default"}, "invalid_scope"),
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "ms-app://s-1-15-2-nobody"}, "invalid_client"),
        ({"scope": ""}, "invalid_request"),
    ],
)
async def test_classic_token_field_checks(
    control: httpx.AsyncClient, sim: WNSSimulator, change: dict[str, str], error: str
) -> None:
    form = {**CLASSIC_FORM, "client_id": sim.demo_app.client_id, "client_secret": sim.demo_app.client_secret}
    response = await control.post("/accesstoken.srf", data={**form, **change})
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_token_request_must_be_a_form(control: httpx.AsyncClient, sim: WNSSimulator) -> None:
    response = await control.post("/accesstoken.srf", json={**CLASSIC_FORM, "client_id": "x"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_entra_token_endpoint(control: httpx.AsyncClient, sim: WNSSimulator) -> None:
    app = sim.register_app(tenant_id="t-1")
    form = {"grant_type": "client_credentials", "client_id": app.client_id,
            "client_secret": app.client_secret, "scope": "https://wns.windows.com/.default"}
    ok = await control.post("/t-1/oauth2/v2.0/token", data=form)
    assert ok.status_code == 200
    assert (ok.json()["token_type"], ok.json()["expires_in"]) == ("Bearer", "86400")
    bad_secret = await control.post("/t-1/oauth2/v2.0/token", data={**form, "client_secret": "no"})
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    other_tenant = await control.post("/t-2/oauth2/v2.0/token", data=form)
    assert other_tenant.status_code == 400
    classic_scope = await control.post("/t-1/oauth2/v2.0/token", data={**form, "scope": "notify.windows.com"})
    assert (classic_scope.status_code, classic_scope.json()["error"]) == (400, "invalid_scope")
    at_classic = await control.post("/accesstoken.srf", data={**form, "scope": "notify.windows.com"})
    assert at_classic.status_code == 400


# -- authorization --------------------------------------------------------------------------


async def test_missing_or_invalid_bearer_is_401(control: httpx.AsyncClient) -> None:
    missing = await control.post("/?token=c", content=TOAST,
                                 headers={"x-wns-type": "wns/toast", "content-type": "text/xml"})
    assert missing.status_code == 401
    invalid = await post(control, "c", "not-a-token")
    assert invalid.status_code == 401
    assert "www-authenticate" not in invalid.headers


async def test_expired_token_is_401_with_challenge(
    control: httpx.AsyncClient, token: str, clock: ManualClock
) -> None:
    clock.advance(86400)
    response = await post(control, "c", token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_request",error_description="Token has expired"'
    )


async def test_token_of_another_app_is_403(control: httpx.AsyncClient, sim: WNSSimulator, token: str) -> None:
    other = sim.register_app()
    channel = sim.channel_id(sim.create_channel(client_id=other.client_id))
    assert (await post(control, channel, token)).status_code == 403


async def test_revoked_tokens_are_401(control: httpx.AsyncClient, sim: WNSSimulator, token: str) -> None:
    sim.revoke_tokens()
    assert (await post(control, "c", token)).status_code == 401


# -- framing and headers ----------------------------------------------------------------------


async def test_only_post(control: httpx.AsyncClient, token: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await control.request(method, "/?token=c", headers=notify_headers(token))
        assert response.status_code == 405


async def test_chunked_body_is_400(control: httpx.AsyncClient, token: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield TOAST[:10]
        yield TOAST[10:]

    response = await control.post("/?token=c", content=chunks(), headers=notify_headers(token))
    assert response.status_code == 400
    assert "Chunked" in response.headers["x-wns-error-description"]


async def test_content_length_is_required(
    sim: WNSSimulator, token: str, client_context: ssl.SSLContext
) -> None:
    request = (
        f"POST /?token=c HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
        "X-WNS-Type: wns/toast\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = await raw_exchange(sim, request, client_context)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Length header is required" in answer


@pytest.mark.parametrize(
    ("kind", "extra", "body"),
    [
        ("wns/push", {}, TOAST),
        ("wns/toast", {"content-type": "application/octet-stream"}, TOAST),
        ("wns/raw", {"content-type": "text/xml"}, b"{}"),
        ("wns/toast", {"x-wns-cache-policy": "maybe"}, TOAST),
        ("wns/toast", {"x-wns-requestforstatus": "yes"}, TOAST),
        ("wns/toast", {"x-wns-ttl": "1.5"}, TOAST),
        ("wns/toast", {"x-wns-ttl": "-1"}, TOAST),
        ("wns/toast", {"x-wns-tag": "x" * 17}, TOAST),
        ("wns/toast", {"x-wns-group": "x" * 17}, TOAST),
        ("wns/toast", {"x-wns-suppresspopup": "true"}, TOAST),
        ("wns/toast", {}, b"<toast><visual>"),
        ("wns/toast", {}, b"<tile/>"),
        ("wns/badge", {}, b"<badge/>"),
        ("wns/tile", {}, TOAST),
        ("wns/toast", {}, b'<!DOCTYPE toast [<!ENTITY a "aaa">]><toast>&a;</toast>'),
        ("wns/raw", {}, b""),
    ],
)
async def test_bad_requests_are_400(
    control: httpx.AsyncClient, token: str, kind: str, extra: dict[str, str], body: bytes
) -> None:
    response = await post(control, "c", token, body, kind, extra)
    assert response.status_code == 400
    assert response.headers["x-wns-error-description"]


async def test_valid_optional_headers_pass(control: httpx.AsyncClient, sim: WNSSimulator, token: str) -> None:
    response = await post(control, "c", token, b"payload", "wns/raw", extra={
        "x-wns-cache-policy": "cache", "x-wns-ttl": "300", "x-wns-requestforstatus": "false"})
    assert response.status_code == 200
    assert (sim.accepted[0]["cache_policy"], sim.accepted[0]["ttl"]) == ("cache", 300)
    tagged = await post(control, "c", token, TOAST, extra={"x-wns-tag": "x" * 16, "x-wns-group": "g"})
    assert tagged.status_code == 200


async def test_app_sdk_mode_rejects_tile_and_badge(
    control: httpx.AsyncClient, sim: WNSSimulator, token: str
) -> None:
    sim.set_mode(app_sdk=True)
    tile = b'<tile><visual><binding template="TileMedium"/></visual></tile>'
    assert (await post(control, "c", token, tile, "wns/tile")).status_code == 400
    assert (await post(control, "c", token, b'<badge value="1"/>', "wns/badge")).status_code == 400
    assert (await post(control, "c", token)).status_code == 200
    assert (await post(control, "c", token, b"{}", "wns/raw")).status_code == 200


async def test_payload_over_5000_bytes_is_413(control: httpx.AsyncClient, token: str) -> None:
    assert (await post(control, "c", token, b"x" * 5000, "wns/raw")).status_code == 200
    assert (await post(control, "c", token, b"x" * 5001, "wns/raw")).status_code == 413


# -- channels -------------------------------------------------------------------------------


async def test_channel_states(control: httpx.AsyncClient, sim: WNSSimulator, token: str) -> None:
    assert (await post(control, "anything", token)).status_code == 200  # non-strict default
    sim.set_channel_state("anything", "unknown")
    assert (await post(control, "anything", token)).status_code == 404
    sim.set_channel_state(sim.channel_uri("anything"), "expired")
    assert (await post(control, "anything", token)).status_code == 410
    sim.set_mode(accept_any_token=False)
    assert (await post(control, "never-made", token)).status_code == 404
    made = sim.channel_id(sim.create_channel())
    assert (await post(control, made, token)).status_code == 200
    assert (await control.post("/?token=", content=TOAST, headers=notify_headers(token))).status_code == 404


async def test_w_path_is_accepted(control: httpx.AsyncClient, token: str) -> None:
    response = await control.post("/w/?token=abc", content=TOAST, headers=notify_headers(token))
    assert response.status_code == 200


async def test_offline_device_drops_toasts_and_uncached_raw(
    control: httpx.AsyncClient, sim: WNSSimulator, token: str
) -> None:
    channel = sim.channel_id(sim.create_channel(state="offline"))
    toast = await post(control, channel, token, extra={"x-wns-requestforstatus": "true"})
    assert toast.headers["x-wns-status"] == "dropped"
    assert toast.headers["x-wns-deviceconnectionstatus"] == "disconnected"
    raw = await post(control, channel, token, b"{}", "wns/raw")
    assert raw.headers["x-wns-status"] == "dropped"
    cached = await post(control, channel, token, b"{}", "wns/raw", extra={"x-wns-cache-policy": "cache"})
    assert cached.headers["x-wns-status"] == "received"
    badge = await post(control, channel, token, b'<badge value="2"/>', "wns/badge")
    assert badge.headers["x-wns-status"] == "received"


# -- success answer ---------------------------------------------------------------------------


async def test_success_headers(control: httpx.AsyncClient, sim: WNSSimulator, token: str) -> None:
    plain = await post(control, "c", token)
    assert plain.status_code == 200
    assert plain.headers["x-wns-status"] == "received"
    assert 0 < len(plain.headers["x-wns-msg-id"]) <= 16
    assert plain.headers["ms-cv"]
    assert "x-wns-deviceconnectionstatus" not in plain.headers
    echoed = await post(control, "c", token, extra={"ms-cv": "abc.1", "x-wns-requestforstatus": "true"})
    assert echoed.headers["ms-cv"] == "abc.1"
    assert echoed.headers["x-wns-deviceconnectionstatus"] == "connected"
    record = sim.accepted[-1]
    assert (record["ms_cv"], record["msg_id"]) == ("abc.1", echoed.headers["x-wns-msg-id"])
    assert record["body"] == TOAST.decode()


# -- throttling and faults ------------------------------------------------------------------


async def test_cloud_service_throttling_is_406(
    control: httpx.AsyncClient, sim: WNSSimulator, token: str, clock: ManualClock
) -> None:
    sim.set_rate_limit(2, 10.0)
    statuses = [(await post(control, f"c{i}", token)).status_code for i in range(3)]
    assert statuses == [200, 200, 406]
    clock.advance(10)
    assert (await post(control, "c9", token)).status_code == 200
    sim.set_rate_limit(None)
    assert all([(await post(control, "c", token)).status_code == 200 for _ in range(3)])


async def test_channel_throttling_is_200_channelthrottled(
    control: httpx.AsyncClient, sim: WNSSimulator, token: str, clock: ManualClock
) -> None:
    sim.set_channel_rate_limit(1, 20.0)
    assert (await post(control, "a", token)).headers["x-wns-status"] == "received"
    throttled = await post(control, "a", token)
    assert throttled.status_code == 200
    assert throttled.headers["x-wns-status"] == "channelthrottled"
    clock.advance(5)
    again = await post(control, "a", token)
    assert again.headers["x-wns-continue-after"] == "15"
    assert (await post(control, "b", token)).headers["x-wns-status"] == "received"  # per channel
    clock.advance(15)
    assert (await post(control, "a", token)).headers["x-wns-status"] == "received"
    assert len(sim.accepted) == 3


@pytest.mark.parametrize("status", [500, 503])
async def test_injected_server_errors(control: httpx.AsyncClient, token: str, status: int) -> None:
    assert (await control.post("/__control/faults", json={"status": status, "count": 1})).status_code == 200
    assert (await post(control, "c", token)).status_code == status
    assert (await post(control, "c", token)).status_code == 200


# -- control API ----------------------------------------------------------------------------


async def test_control_routes(control: httpx.AsyncClient, sim: WNSSimulator) -> None:
    app = (await control.post("/__control/apps", json={"tenant_id": "t-9"})).json()
    assert app["tenant_id"] == "t-9"
    assert app["app_sdk"] is True
    channel = {"id": "ch1", "client_id": app["client_id"]}
    made = (await control.post("/__control/channels", json=channel)).json()
    assert made["uri"] == f"{sim.url}/?token=ch1"
    assert made["state"] == "active"
    await control.post("/__control/channels/state", json={"channel": made["uri"], "state": "offline"})
    assert sim.channels["ch1"].state == "offline"
    listed = (await control.get("/__control/channels")).json()["channels"]
    assert [c["id"] for c in listed] == ["demo-channel", "ch1"]  # the demo channel exists from the start
    bad = await control.post("/__control/channels/state", json={"channel": "ch1", "state": "asleep"})
    assert bad.status_code == 400
    await control.post("/__control/rate_limit", json={"limit": 5, "window": 1})
    await control.post("/__control/channel_rate_limit", json={"limit": 1, "channel": "ch1"})
    await control.post("/__control/mode", json={"accept_any_token": False, "app_sdk": True})
    assert (sim.accept_any_token, sim.app_sdk) == (False, True)
    creds = (await control.get("/__control/credentials")).json()
    assert creds == sim.demo_credentials()
    assert (await control.post("/__control/tokens/revoke")).status_code == 200
    apps = (await control.get("/__control/apps")).json()["apps"]
    assert {a["client_id"] for a in apps} == {DEMO_CLIENT_ID, app["client_id"]}
    missing = await control.post("/__control/channels", json={"client_id": "ms-app://nobody"})
    assert missing.status_code == 400
