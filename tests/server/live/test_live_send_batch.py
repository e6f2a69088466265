"""``POST /v1/sends/batch``: one result per item, each through the send path, over HTTP on a live server."""

from __future__ import annotations

from typing import Any

from tests.live_server import StartLive

NOTE = {"title": "Hello", "body": "World"}


def _token(n: int) -> str:
    return f"batch-device-{n:04d}:APA91b{'z' * 120}"


async def test_each_item_is_answered_on_its_own(start_live: StartLive) -> None:
    live = await start_live()
    await live.device(provider="fcm", token=_token(1), user="u1")
    await live.device(provider="fcm", token=_token(2), user="u2")
    items: list[dict[str, Any]] = [
        {"notification": NOTE, "target": {"users": ["u1"]}},
        {"notification": NOTE, "target": {"users": ["u1"], "all": True}},
        {"target": {"users": ["u1"]}},
        {"notification": {}, "target": {"users": ["u1"]}},
        {"notification": NOTE, "target": {"users": ["u2", "ghost"]}, "idempotency_key": "k-1"},
    ]
    answer = await live.http.post("/v1/sends/batch", json={"sends": items}, headers=live.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 2
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in results] == [202, 422, 422, 422, 202]
    assert results[0]["send"]["targeted"] == 1
    assert results[1]["error"]["field"] == "body.sends[1].target"
    assert results[2]["error"]["field"] == "body.sends[2].notification"
    assert results[3]["error"]["code"] == "invalid_notification"
    assert results[4]["send"]["unknown_users"] == ["ghost"]
    for result in (results[0], results[4]):
        status = await live.http.get(f"/v1/sends/{result['send']['id']}", headers=live.auth)
        assert status.status_code == 200

    # The item's idempotency key: the same item is the same send; another body under it is 409.
    again = await live.http.post("/v1/sends/batch", headers=live.auth, json={"sends": [
        items[4], {"notification": {"title": "Other"}, "target": {"users": ["u2"]}, "idempotency_key": "k-1"},
    ]})
    replay, conflict = again.json()["results"]
    assert replay["send"]["id"] == results[4]["send"]["id"]
    assert (conflict["status"], conflict["error"]["field"]) == (409, "body.sends[1].idempotency_key")

    too_many = await live.http.post("/v1/sends/batch", json={"sends": [items[0]] * 101}, headers=live.auth)
    assert (too_many.status_code, too_many.json()["error"]["field"]) == (422, "body.sends")
    empty = await live.http.post("/v1/sends/batch", json={"sends": []}, headers=live.auth)
    assert empty.status_code == 422


async def test_once_the_queue_is_full_the_rest_are_refused_with_retry_after(start_live: StartLive) -> None:
    live = await start_live(max_direct_queue_depth=1, backpressure_retry_after=9)  # no workers
    await live.device(provider="fcm", token=_token(1), user="u1")
    send = {"notification": NOTE, "target": {"users": ["u1"]}}
    answer = await live.http.post("/v1/sends/batch", json={"sends": [send, send, send]}, headers=live.auth)
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == [202, 503, 503]
    assert answer.json()["results"][2]["error"]["code"] == "overloaded"
    assert answer.headers["Retry-After"] == "9"
    listed = (await live.http.get("/v1/sends", headers=live.auth)).json()["items"]
    assert len(listed) == 1
