"""Sends to an FCM topic or condition through `pushgate serve` and the FCM simulator: one request
each, its outcome recorded like a device's, retried on 429 and paused on rejected credentials."""

from __future__ import annotations

from typing import Any

from pushgate.simulators.fcm import FCMSimulator
from tests.e2e.e2e_helpers import (
    GatewayFor,
    StartServer,
    StartSimulators,
    credentials_for,
    fcm_gateway,
    sim_of,
    wait_for,
)

CONDITION = "'deals' in topics && !('muted' in topics)"


async def test_topic_and_condition_sends_are_one_fcm_message_each_with_their_outcome_recorded(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    gate = await fcm_gateway(database_url, start_simulators, start_server, gateway_for)
    fcm, api, auth = gate.fcm, gate.api, gate.auth
    for _ in range(3):  # registered devices are not a topic's audience: nobody of them gets a copy
        await api.register(auth, {"provider": "fcm", "token": fcm.register_token()})

    for target, kind, value in (({"topic": "deals"}, "topic", "deals"),
                                ({"condition": CONDITION}, "condition", CONDITION)):
        accepted = await api.send(auth, {"title": "Sale", "body": "Today"}, target)
        assert accepted["targeted"] == 1
        status = await api.wait_done(auth, accepted["id"], within=60)
        assert (status["targeted"], status["sent"], status["failed"], status["pending"]) == (1, 1, 0, 0)
        [message] = fcm.messages_for(value)
        assert message["target"] == kind
        assert message["message"][kind] == value
        [delivery] = await api.deliveries(auth, accepted["id"])
        assert delivery["device_id"] is None
        assert delivery[kind] == value
        assert (delivery["status"], delivery["provider"]) == ("sent", "fcm")
        assert delivery["message_id"] == message["name"]
    assert len(fcm.accepted) == 2  # one request per send, none to the registered devices


async def test_a_topic_send_is_retried_after_429_and_paused_by_rejected_credentials(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    sims = await start_simulators(("fcm",))
    fcm = sim_of(sims, "fcm", FCMSimulator)
    server = await start_server(database_url, sims, max_retry_delay=2)
    api = gateway_for(server)
    app_id, auth = await api.create_app()
    good = credentials_for(sims)["fcm"]
    await api.put_credentials(app_id, "fcm", good)

    fcm.inject_error(429, retry_after=999999)  # capped by max_retry_delay
    accepted = await api.send(auth, {"title": "Throttled"}, {"topic": "deals"})
    status = await api.wait_done(auth, accepted["id"], within=30)
    assert (status["sent"], status["failed"]) == (1, 0)
    [delivery] = await api.deliveries(auth, accepted["id"])
    assert delivery["attempts"] == 2
    assert len(fcm.messages_for("deals")) == 1

    fcm.inject_error(403)  # a permission error: the app's credentials are rejected
    paused = await api.send(auth, {"title": "Paused"}, {"topic": "news"})

    async def fcm_state() -> dict[str, Any]:
        answer = await api.http.get("/v1/app", headers=auth)
        assert answer.status_code == 200
        return next(s for s in answer.json()["provider_states"] if s["provider"] == "fcm")

    await wait_for(fcm_state, lambda s: s["paused"], 30, "the app was not paused")
    status = await api.status(auth, paused["id"])
    assert (status["sent"], status["failed"], status["pending"]) == (0, 0, 1), "deferred, not failed"
    await api.put_credentials(app_id, "fcm", good)  # storing credentials lifts the pause
    status = await api.wait_done(auth, paused["id"], within=60)
    assert status["sent"] == 1
    assert len(fcm.messages_for("news")) == 1


async def test_topic_subscriptions_are_durable_jobs_done_through_the_instance_id_api(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    gate = await fcm_gateway(database_url, start_simulators, start_server, gateway_for)
    fcm, api, auth = gate.fcm, gate.api, gate.auth
    alice = [fcm.register_token() for _ in range(2)]
    for token in alice:
        await api.register(auth, {"provider": "fcm", "token": token, "user": "alice"})
    loose = fcm.register_token()

    async def operate(action: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await api.http.post(f"/v1/topics/deals/{action}", json=body, headers=auth)
        assert answer.status_code == 202, answer.text
        accepted: dict[str, Any] = answer.json()
        assert answer.headers["location"] == f"/v1/topics/operations/{accepted['id']}"

        async def read() -> dict[str, Any]:
            got = await api.http.get(f"/v1/topics/operations/{accepted['id']}", headers=auth)
            assert got.status_code == 200, got.text
            result: dict[str, Any] = got.json()
            return result

        finished: dict[str, Any] = await wait_for(read, lambda o: o["status"] != "queued", 30,
                                                  "the operation did not finish")
        return finished

    done = await operate("subscribe", {"tokens": [*alice, loose, "not a token"]})
    assert (done["status"], done["requested"], done["succeeded"], done["failed"]) == ("done", 4, 3, 1)
    assert [e["token"] for e in done["errors"]] == ["not a token"]
    assert fcm.topic_members("deals") == {*alice, loose}

    done = await operate("unsubscribe", {"users": ["alice"]})  # alice's active FCM devices
    assert (done["status"], done["requested"], done["succeeded"], done["failed"]) == ("done", 2, 2, 0)
    assert fcm.topic_members("deals") == {loose}
