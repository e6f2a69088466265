"""Pushkin's event routes on a live ``pushgate serve``: a login event (JSON and protobuf) registers the
device with Pushkin's platform and language ids translated, and a triggering event is delivered in the
user's language through the FCM simulator — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from pushgate.pushkin import proto
from pushgate.simulators.fcm import FCMSimulator
from tests.live_server import Live, StartLive

TOKEN = f"pushkin-events-device:APA91b{'e' * 120}"
MESSAGE = {"events": [1001], "localizations": {"en": {"title": "Hi {name}", "body": "welcome"},
                                               "de": {"title": "Hallo {name}", "body": "willkommen"}}}


async def _wait(live: Live, batch_id: str) -> dict[str, Any]:
    for _ in range(600):  # bounded: 30 s
        shown: dict[str, Any] = (await live.http.get(f"/v1/events/{batch_id}", headers=live.auth)).json()
        if shown["status"] == "done":
            return shown
        await asyncio.sleep(0.05)
    raise AssertionError(f"event batch {batch_id} was not processed")


def _login_proto(user_id: int, pairs: dict[str, str]) -> bytes:
    batch = proto.BatchEventRequest()
    event = batch.events.add()
    event.user_id, event.event_id, event.timestamp = user_id, 4001, 1458823448000
    for key, value in pairs.items():
        pair = event.pairs.add()
        pair.key, pair.value = key, value
    body: bytes = batch.SerializeToString()
    return body


async def test_a_login_then_an_event_notify_in_the_users_language(
    start_live: StartLive, fcm_sim: FCMSimulator,
) -> None:
    live = await start_live(fcm=fcm_sim)
    assert (await live.http.put("/v1/messages/hello", json=MESSAGE, headers=live.auth)).status_code == 201
    table = await live.http.put("/v1/pushkin/languages", json={"languages": {"1": "en", "2": "de"}},
                                headers=live.auth)
    assert table.status_code == 200

    login = _login_proto(1338, {"languageId": "2", "platformId": "6", "deviceToken": TOKEN,
                                "applicationVersion": "7"})
    answer = await live.http.post("/post_events_proto", content=login, headers=live.auth)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["accepted"], answer.json()["rejected"], answer.json()["warnings"]) == (1, [], [])
    await _wait(live, answer.json()["id"])
    user = (await live.http.get("/v1/users/1338", headers=live.auth)).json()
    assert user["locale"] == "de"
    (device,) = (await live.http.get("/v1/users/1338/devices", headers=live.auth)).json()["items"]
    assert (device["provider"], device["platform"], device["app_version"]) == ("fcm", "android_tablet", "7")

    trigger = {"events": [{"user_id": 1338, "event_id": 1001, "timestamp": 1458823449000,
                           "pairs": {"name": "Ana"}}]}
    answer = await live.http.post("/post_events_json", json=trigger, headers=live.auth)
    assert answer.status_code == 200, answer.text
    shown = await _wait(live, answer.json()["id"])
    (send_id,) = shown["outcome"]["sends"]
    await live.wait_done(send_id)
    (delivered,) = fcm_sim.accepted
    assert delivered["to"] == TOKEN
    assert delivered["message"]["notification"] == {"title": "Hallo Ana", "body": "willkommen"}


async def test_bad_events_are_named_and_unknown_languages_warned(start_live: StartLive) -> None:
    live = await start_live()
    events = {"events": [
        {"user_id": 1, "event_id": 4001, "timestamp": 1458823448000,
         "pairs": {"languageId": "9", "platformId": "2", "deviceToken": "ab" * 32,
                   "applicationVersion": "1"}},
        {"user_id": 2, "event_id": 4001, "timestamp": 1458823448000,
         "pairs": {"languageId": "1", "platformId": "3", "deviceToken": "ab" * 32}},
        {"user_id": 3, "event_id": 4500, "timestamp": 1458823448000},  # reserved by Pushkin and pushgate
        {"user_id": "four", "event_id": 1001, "timestamp": 1458823448000},
        {"user_id": 5, "event_id": 4001, "timestamp": 1458823448000,
         "pairs": {"languageId": "fr", "platformId": "1", "deviceToken": f"t:APA91b{'f' * 120}"}},
        {"user_id": 6, "event_id": 4006, "timestamp": 1458823448000, "pairs": {"blacklist1": 1}},
    ]}
    answer = await live.http.post("/post_events_json", json=events, headers=live.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 3
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "events[1].pairs.platformId"), (2, "events[2]"), (3, "events[3].user_id"),
    ]
    assert "reserved" in body["rejected"][1]["reason"]
    (warning,) = body["warnings"]
    assert (warning["index"], warning["field"]) == (0, "events[0].pairs.languageId")

    for content in (b"", b"{", b'{"notifications": []}'):
        refused = await live.http.post("/post_events_json", content=content, headers=live.auth)
        assert refused.status_code == 400, content
    refused = await live.http.post("/post_events_proto", content=b"\xff\xff", headers=live.auth)
    assert refused.status_code == 400
    nothing = await live.http.post("/post_events_json", json={"events": []}, headers=live.auth)
    assert (nothing.status_code, nothing.json()["accepted"], nothing.json()["id"]) == (200, 0, None)
