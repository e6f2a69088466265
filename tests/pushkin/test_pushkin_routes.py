"""Pushkin's routes on a live ``pushgate serve``: real HTTP, requests serialized by the generated classes,
deliveries read back from the FCM simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import sqlalchemy as sa

from pushgate.pushkin import proto
from pushgate.registry.models import sends_table
from pushgate.simulators.fcm import FCMSimulator
from tests.live_server import Live, StartLive

DOCS_EXAMPLE = {"notifications": [
    {"login_id": 1337, "title": "Hi User1", "content": "Sent from Pushkin", "screen": "welcome_screen"},
    {"login_id": 1338, "title": "Hi User2", "content": "Also sent from Pushkin"},
]}


def fcm_token(n: int) -> str:
    return f"pushkin-device-{n:04d}:APA91b{'x' * 120}"


async def _register(live: Live, user: str, n: int) -> None:
    await live.device(provider="fcm", platform="android", token=fcm_token(n), user=user)


def _send_count(live: Live) -> int:
    with live.db.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(sends_table)).scalar_one())


async def test_json_and_proto_notifications_reach_the_users_devices(
    start_live: StartLive, fcm_sim: FCMSimulator,
) -> None:
    live = await start_live(fcm=fcm_sim)
    await _register(live, "1337", 1)
    await _register(live, "1337", 2)
    await _register(live, "1338", 3)

    answer = await live.http.post("/post_notification_json", content=json.dumps(DOCS_EXAMPLE),
                                  headers=live.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (2, [])
    assert [(s["index"], s["targeted"]) for s in body["sends"]] == [(0, 2), (1, 1)]
    for send in body["sends"]:
        assert (await live.wait_done(send["id"]))["sent"] == send["targeted"]
    by_token = {r["to"]: r["message"] for r in fcm_sim.accepted}
    assert by_token[fcm_token(1)]["notification"] == {"title": "Hi User1", "body": "Sent from Pushkin"}
    assert by_token[fcm_token(2)]["data"]["screen"] == "welcome_screen"
    assert by_token[fcm_token(3)]["notification"]["title"] == "Hi User2"

    # A client that cannot send headers: the route secret in the path, protobuf as Pushkin's clients send it.
    made = await live.http.post("/v1/pushkin/route-secret", headers=live.auth)
    assert made.status_code == 201, made.text
    path = made.json()["path"]
    batch = proto.BatchNotificationRequest()
    item = batch.notifications.add()
    item.login_id, item.title, item.content, item.screen = 1338, "Proto title", "Proto content", "shop"
    answer = await live.http.post(f"{path}/post_notification_proto", content=batch.SerializeToString(),
                                  headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 200, answer.text
    (send,) = answer.json()["sends"]
    assert (await live.wait_done(send["id"]))["sent"] == 1
    latest = [r["message"] for r in fcm_sim.accepted
              if r["message"]["notification"]["title"] == "Proto title"]
    assert [m["data"]["screen"] for m in latest] == ["shop"]


async def test_bad_items_are_reported_and_unreadable_bodies_refused(start_live: StartLive) -> None:
    live = await start_live()
    body = {"notifications": [
        {"login_id": 1, "title": "ok", "content": "ok"},
        {"login_id": "one", "title": "not a number", "content": "x"},
        {"login_id": 2, "content": "no title"},
        {"login_id": 3, "title": "", "content": ""},  # present, as Pushkin checks, but nothing to show
    ]}
    answer = await live.http.post("/post_notification_json", json=body, headers=live.auth)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["accepted"] == 1
    assert [(r["index"], r["field"]) for r in shown["rejected"]] == [
        (1, "notifications[1].login_id"), (2, "notifications[2].title"), (3, "notifications[3]"),
    ]
    assert "empty notification" in shown["rejected"][2]["reason"]

    for path, content in (("/post_notification_json", b""), ("/post_notification_json", b"garbage"),
                          ("/post_notification_json", b'{"events": []}'),
                          ("/post_notification_proto", b""), ("/post_notification_proto", b"\xff\xff\xff")):
        headers = {**live.auth, "Content-Type": "application/x-protobuf"} if path.endswith("proto") \
            else live.auth
        refused = await live.http.post(path, content=content, headers=headers)
        assert refused.status_code == 400, (path, content, refused.text)
        assert refused.json()["error"]["field"] in ("body", "body.notifications")

    assert (await live.http.post("/post_notification_json", json=body)).status_code == 401
    assert (await live.http.post("/app/pkr_unknown/post_notification_json", json=body)).status_code == 404
    made = (await live.http.post("/v1/pushkin/route-secret", headers=live.auth)).json()
    assert (await live.http.get(f"{made['path']}/get_request_queue")).status_code == 200
    assert (await live.http.delete("/v1/pushkin/route-secret", headers=live.auth)).status_code == 204
    assert (await live.http.get(f"{made['path']}/get_request_queue")).status_code == 404
    assert (await live.http.delete("/v1/pushkin/route-secret", headers=live.auth)).status_code == 404


async def test_a_full_queue_answers_503_with_retry_after_and_stores_nothing(start_live: StartLive) -> None:
    # No workers: nothing drains.
    live = await start_live(max_direct_queue_depth=1, backpressure_retry_after=7)
    for n, user in enumerate(("1", "1337", "1338")):
        await _register(live, user, n)
    first = await live.http.post("/post_notification_json", headers=live.auth,
                                 json={"notifications": [{"login_id": 1, "title": "a", "content": "b"}]})
    assert first.status_code == 200, first.text
    stored = _send_count(live)

    full = await live.http.post("/post_notification_json", json=DOCS_EXAMPLE, headers=live.auth)
    assert full.status_code == 503, full.text
    assert full.headers["Retry-After"] == "7"
    assert _send_count(live) == stored

    # Pushkin's monitoring: the send waits in the request (fan-out) queue; plain integers.
    depth = await live.http.get("/get_request_queue", headers=live.auth)
    assert (depth.status_code, depth.text, depth.headers["content-type"].split(";")[0]) == (
        200, "1", "text/plain")
    assert (await live.http.get("/get_apn_sender_queue", headers=live.auth)).text == "0"
    assert (await live.http.get("/get_gcm_sender_queue", headers=live.auth)).text == "0"


async def test_the_prefix_moves_the_routes_and_languages_are_set_per_app(start_live: StartLive) -> None:
    live = await start_live(pushkin_prefix="/pushkin")
    note = {"notifications": [{"login_id": 1, "title": "a", "content": "b"}]}
    moved = await live.http.post("/pushkin/post_notification_json", json=note, headers=live.auth)
    assert moved.status_code == 200
    assert (await live.http.post("/post_notification_json", json=note, headers=live.auth)).status_code == 404
    made = (await live.http.post("/v1/pushkin/route-secret", headers=live.auth)).json()
    assert made["path"].startswith("/pushkin/app/pkr_")

    bad = await live.http.put("/v1/pushkin/languages", json={"languages": {"one": "en"}}, headers=live.auth)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "body.languages.one")
    bad = await live.http.put("/v1/pushkin/languages", json={"languages": {"1": "not a locale!"}},
                              headers=live.auth)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "body.languages.1")
    good = await live.http.put("/v1/pushkin/languages", json={"languages": {"1": "en", "02": "pt_BR"}},
                               headers=live.auth)
    assert good.status_code == 200, good.text
    shown = (await live.http.get("/v1/pushkin", headers=live.auth)).json()
    assert shown == {"languages": {"1": "en", "2": "pt-BR"}, "has_route_secret": True}
