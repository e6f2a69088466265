"""A running `pushgate serve`, four provider simulators, one send to every device.

Everything goes through public surfaces: the app and its credentials via
the admin API, devices registered through the API, the send through the
API; deliveries are observed where they land (the simulators' records; Web
Push bodies decrypted by the simulated browser) and where the app reads
them (the status API and /metrics).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from pushgate.simulators._base import Simulator
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.webpush import WebPushSimulator
from pushgate.simulators.wns import WNSSimulator
from pushgate.workers.delivery import delivery_id
from tests.e2e.e2e_helpers import (
    GatewayFor,
    StartServer,
    StartSimulators,
    credentials_for,
    provider_app,
    sim_of,
)

PER_PROVIDER = 4


def device_specs(sims: dict[str, Simulator], count: int) -> list[dict[str, Any]]:
    """What an app registers for ``count`` simulated devices per provider."""
    specs: list[dict[str, Any]] = []
    fcm, webpush = sim_of(sims, "fcm", FCMSimulator), sim_of(sims, "webpush", WebPushSimulator)
    wns = sim_of(sims, "wns", WNSSimulator)
    for n in range(count):
        specs.append({"provider": "apns", "token": secrets.token_hex(32), "platform": "ios", "user": f"u{n}"})
        specs.append({"provider": "fcm", "token": fcm.register_token(),
                      "platform": "android", "user": f"u{n}"})
        specs.append({"provider": "webpush", "subscription": webpush.subscribe(),
                      "platform": "web"})
        specs.append({"provider": "wns", "token": wns.channel_uri(f"channel-{n}"),
                      "platform": "windows"})
    return specs


async def test_a_send_reaches_every_provider_and_is_reported(
    database_url: str,
    sims: dict[str, Simulator],
    start_server: StartServer,
    gateway_for: GatewayFor,
) -> None:
    server = await start_server(database_url, sims, workers=2)
    api = gateway_for(server)
    app_id, auth = await api.create_app("shop")
    for provider, config in credentials_for(sims).items():
        await api.put_credentials(app_id, provider, config)
    registered = [await api.register(auth, spec) for spec in device_specs(sims, PER_PROVIDER)]
    by_id = {device["id"]: device for device in registered}

    accepted = await api.send(
        auth, {"title": "Order shipped", "body": "Arrives tomorrow", "data": {"order": "42"}}, {"all": True}
    )
    assert accepted["targeted"] == 4 * PER_PROVIDER
    status = await api.wait_done(auth, accepted["id"])

    assert status["sent"] == 4 * PER_PROVIDER
    assert (status["failed"], status["dead"], status["expired"], status["pending"]) == (0, 0, 0, 0)
    deliveries = await api.deliveries(auth, accepted["id"])
    assert sorted(d["device_id"] for d in deliveries) == sorted(by_id)
    assert all(d["status"] == "sent" and d["message_id"] for d in deliveries)
    message_ids = {d["device_id"]: d["message_id"] for d in deliveries}

    # APNs: every token once, with the stable apns-id the status API reports.
    apns_ids = {r["token"]: r["apns_id"] for r in sims["apns"].accepted}
    for device_id, device in by_id.items():
        if device["provider"] == "apns":
            expected = delivery_id(accepted["id"], device_id)
            assert apns_ids[device["token"]] == message_ids[device_id] == expected
    assert len(sims["apns"].accepted) == PER_PROVIDER
    assert all(r["payload"]["aps"]["alert"]["title"] == "Order shipped" for r in sims["apns"].accepted)

    # FCM: the message names FCM returned are the delivery message ids.
    fcm = sims["fcm"].accepted
    assert sorted(r["to"] for r in fcm) == sorted(d["token"] for d in registered if d["provider"] == "fcm")
    assert {r["name"] for r in fcm} == {message_ids[i] for i, d in by_id.items() if d["provider"] == "fcm"}
    assert all(r["message"]["data"]["order"] == "42" for r in fcm)

    # Web Push: the simulated browser decrypted each body (RFC 8291).
    pushed = sims["webpush"].accepted
    assert len(pushed) == PER_PROVIDER
    assert all(json.loads(r["plaintext"])["title"] == "Order shipped" for r in pushed)
    locations = {message_ids[i] for i, d in by_id.items() if d["provider"] == "webpush"}
    assert all(loc.rsplit("/", 1)[-1] in {r["id"] for r in pushed} for loc in locations)

    # WNS: a toast per channel, with the X-WNS-Msg-ID recorded.
    toasts = sims["wns"].accepted
    assert sorted(r["channel"] for r in toasts) == sorted(f"channel-{n}" for n in range(PER_PROVIDER))
    assert all("Order shipped" in r["body"] for r in toasts)
    wns_ids = {message_ids[i] for i, d in by_id.items() if d["provider"] == "wns"}
    assert {r["msg_id"] for r in toasts} == wns_ids

    # A device's own history, and the operator's view.
    some_device = next(iter(by_id))
    history = await api.http.get(f"/v1/devices/{some_device}/deliveries", headers=auth)
    assert history.status_code == 200
    assert [h["send_id"] for h in history.json()] == [accepted["id"]]
    metrics = (await api.http.get("/metrics")).text
    for provider in ("apns", "fcm", "webpush", "wns"):
        sample = f'pushgate_deliveries_total{{provider="{provider}",reason="",status="sent"}}'
        assert f"{sample} {PER_PROVIDER}.0" in metrics
    assert "pushgate_provider_request_seconds_bucket" in metrics
    assert "pushgate_queue_depth" in metrics

    assert await server.terminate() == 0
    assert "Traceback" not in server.log_tail(100_000)


@pytest.mark.parametrize("target", ["users", "tokens"])
async def test_sends_to_users_and_tokens_reach_only_them(
    target: str,
    database_url: str,
    start_simulators: StartSimulators,
    start_server: StartServer,
    gateway_for: GatewayFor,
) -> None:
    app = await provider_app("apns", database_url, start_simulators, start_server, gateway_for)
    sims, api, auth = app.sims, app.api, app.auth
    tokens = [secrets.token_hex(32) for _ in range(6)]
    for n, token in enumerate(tokens):
        await api.register(auth, {"provider": "apns", "token": token, "user": f"user-{n % 3}"})

    chosen = {"users": ["user-0", "user-2"]} if target == "users" else {"tokens": tokens[:2]}
    accepted = await api.send(auth, {"title": "Hello"}, chosen)
    expected = [t for n, t in enumerate(tokens) if n % 3 in (0, 2)] if target == "users" else tokens[:2]
    status = await api.wait_done(auth, accepted["id"])
    assert status["sent"] == len(expected)
    assert sorted(r["token"] for r in sims["apns"].accepted) == sorted(expected)
