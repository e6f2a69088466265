"""Event mode on a running `pushgate serve`: a catalog, logins and events in, localized pushes out.

Only public surfaces: the catalog and the events through the HTTP API,
pushes observed where they land (the APNs and FCM simulators), outcomes
where the app reads them (the batch and the sends).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from pushgate.simulators.fcm import FCMSimulator
from tests.e2e.e2e_helpers import GatewayFor, StartServer, StartSimulators, credentials_for, sim_of, wait_for

MESSAGE = {
    "events": [1001], "screen": "orders", "cooldown": 3600, "extras": {"data": {"kind": "order"}},
    "localizations": {"en": {"title": "Shipped, {name}", "body": "Order {order} is on its way"},
                      "fr": {"title": "Expédiée, {name}", "body": "La commande {order} est en route"}},
}


def login(user: Any, platform: str, token: str, language: str) -> dict[str, Any]:
    return {"user_id": user, "event_id": 4001, "timestamp": int(time.time() * 1000),
            "params": {"language": language, "platform": platform, "token": token,
                       "application_version": "9"}}


def shipped(user: Any, **params: str) -> dict[str, Any]:
    return {"user_id": user, "event_id": 1001, "timestamp": int(time.time() * 1000), "params": params}


async def test_logins_then_events_reach_each_device_in_its_language(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    sims = await start_simulators(("apns", "fcm"))
    fcm = sim_of(sims, "fcm", FCMSimulator)
    server = await start_server(database_url, sims)
    api = gateway_for(server)
    app_id, auth = await api.create_app("game")
    for provider, config in credentials_for(sims).items():
        await api.put_credentials(app_id, provider, config)
    settings = await api.http.patch("/v1/events/settings", json={"deep_link_base": "game://open"},
                                    headers=auth)
    assert settings.status_code == 200, settings.text
    put = await api.http.put("/v1/messages/shipped", json=MESSAGE, headers=auth)
    assert put.status_code == 201, put.text

    async def decided(batch_id: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            answer = await api.http.get(f"/v1/events/{batch_id}", headers=auth)
            result: dict[str, Any] = answer.json()
            return result

        done: dict[str, Any] = await wait_for(probe, lambda b: b["status"] == "done", 60, "batch not decided")
        return done

    async def post(events: list[dict[str, Any]]) -> dict[str, Any]:
        answer = await api.http.post("/v1/events", json={"events": events}, headers=auth)
        assert answer.status_code == 202, answer.text
        body: dict[str, Any] = answer.json()
        return body

    apns_token, fcm_token = secrets.token_hex(32), fcm.register_token()
    logins = await post([login(1337, "ios", apns_token, "fr-CA"), login(1338, "android", fcm_token, "en")])
    assert (logins["accepted"], logins["rejected"]) == (2, [])
    assert (await decided(logins["id"]))["outcome"]["counts"] == {"logins": 2}

    events = await post([shipped(1337, name="Ana", order="A-1"), shipped(1338, name="Bo", order="B-2"),
                         shipped(1337, name="Ana", order="A-3"), shipped("ghost", name="X", order="Y"),
                         {"user_id": 1337, "event_id": 4444, "timestamp": 0}])
    assert events["accepted"] == 4
    assert [r["index"] for r in events["rejected"]] == [4]
    batch = await decided(events["id"])
    assert batch["outcome"]["counts"] == {"cooldown": 1, "deliveries": 2, "notified": 2, "unknown_user": 1}
    [send_id] = batch["outcome"]["sends"]
    status = await api.wait_done(auth, send_id)
    assert (status["targeted"], status["sent"], status["failed"]) == (2, 2, 0)

    [apns] = sims["apns"].accepted
    assert apns["token"] == apns_token
    assert apns["payload"]["aps"]["alert"] == {"title": "Expédiée, Ana",
                                               "body": "La commande A-1 est en route"}
    assert apns["payload"]["kind"] == "order"
    [pushed] = fcm.accepted
    assert pushed["to"] == fcm_token
    assert pushed["message"]["notification"] == {"title": "Shipped, Bo", "body": "Order B-2 is on its way"}
    deliveries = await api.deliveries(auth, send_id)
    assert sorted(d["provider"] for d in deliveries) == ["apns", "fcm"]
    assert all(d["status"] == "sent" for d in deliveries)
