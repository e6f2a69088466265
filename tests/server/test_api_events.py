"""POST /v1/events: per-event rejections, the batch and its job stored before the 202, the batch's status."""

from __future__ import annotations

from typing import Any

from pushgate.planner.jobs import EVENTS_QUEUE
from pushgate.queue import JobStatus
from pushgate.workers.events import decide_batch
from tests.server.api_helpers import Api, Tenant, apns_token
from tests.server.conftest import MakeApi

MESSAGE = {"events": [1001], "localizations": {"en": {"title": "Hi {name}", "body": "welcome"}}}
NOW_MS = 1_900_000_000_000


def login(user: Any, token: str, **params: Any) -> dict[str, Any]:
    return {"user_id": user, "event_id": 4001, "timestamp": NOW_MS,
            "params": {"language": "en", "platform": "ios", "token": token, "application_version": "3",
                       **params}}


async def test_a_batch_is_stored_with_its_job_and_bad_events_are_rejected_by_index(
    api: Api, shop: Tenant
) -> None:
    events = [
        login(1337, apns_token(1)),
        {"user_id": "1337", "event_id": 1001, "timestamp": "2030-01-01T09:00:00Z", "params": {"name": "Ana"}},
        {"user_id": "1337", "event_id": 4500, "timestamp": NOW_MS},  # reserved, not predefined
        {"user_id": "", "event_id": 1001, "timestamp": NOW_MS},
        {"user_id": "x", "event_id": "1001", "timestamp": NOW_MS},
        {"user_id": "x", "event_id": 1001, "timestamp": "2030-01-01T09:00:00"},  # no zone
        {"user_id": "x", "event_id": 1001, "timestamp": NOW_MS, "params": {"bad-name": "v"}},
        {"user_id": "x", "event_id": 1001, "timestamp": NOW_MS, "extra": 1},
        login("y", "not-hex"),
        login("z", apns_token(2), platform="toaster"),
        {"user_id": "x", "event_id": 4006, "timestamp": NOW_MS, "params": {"b1": 1, "b2": 2}},
    ]
    answer = await api.client.post("/v1/events", json={"events": events}, headers=shop.headers)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["accepted"] == 3
    assert [r["index"] for r in body["rejected"]] == [2, 3, 4, 5, 6, 7, 8, 9]
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert reasons[2].startswith("event_id:")
    assert "reserved" in reasons[2]
    assert reasons[5].startswith("timestamp:")
    assert reasons[6].startswith("params.bad-name:")
    assert reasons[9].startswith("params.platform:")
    assert answer.headers["Location"] == f"/v1/events/{body['id']}"
    # Durable before the answer: the batch and its job are stored.
    job = api.queue.get(f"events:{body['id']}")
    assert job is not None
    assert (job.queue, job.status) == (EVENTS_QUEUE, JobStatus.QUEUED)
    assert EVENTS_QUEUE in api.enqueued
    shown = await api.client.get(f"/v1/events/{body['id']}", headers=shop.headers)
    assert (shown.json()["status"], shown.json()["events"]) == ("queued", 3)
    other = await api.tenant("other")
    assert (await api.client.get(f"/v1/events/{body['id']}", headers=other.headers)).status_code == 404


async def test_a_processed_batch_registers_the_login_and_shows_its_decisions(api: Api, shop: Tenant) -> None:
    await api.client.put("/v1/messages/hello", json=MESSAGE, headers=shop.headers)
    first = await api.client.post("/v1/events", json={"events": [login("u1", apns_token(7), language="fr")]},
                                  headers=shop.headers)
    decide_batch(api.db, api.queue, first.json()["id"], chunk_size=100, max_tries=3)
    devices = (await api.client.get("/v1/users/u1/devices", headers=shop.headers)).json()
    assert [(d["provider"], d["app_version"]) for d in devices["items"]] == [("apns", "3")]
    assert (await api.client.get("/v1/users/u1", headers=shop.headers)).json()["locale"] == "fr"
    second = await api.client.post("/v1/events", json={"events": [
        {"user_id": "u1", "event_id": 1001, "timestamp": NOW_MS, "params": {"name": "Ana"}},
        {"user_id": "nobody", "event_id": 1001, "timestamp": NOW_MS, "params": {"name": "Bo"}},
        {"user_id": "u1", "event_id": 77, "timestamp": NOW_MS},
    ]}, headers=shop.headers)
    decide_batch(api.db, api.queue, second.json()["id"], chunk_size=100, max_tries=3)
    shown = (await api.client.get(f"/v1/events/{second.json()['id']}", headers=shop.headers)).json()
    assert shown["status"] == "done"
    assert shown["outcome"]["counts"] == {"deliveries": 1, "no_message": 1, "notified": 1, "unknown_user": 1}
    [send_id] = shown["outcome"]["sends"]
    send = (await api.client.get(f"/v1/sends/{send_id}", headers=shop.headers)).json()
    assert (send["status"], send["targeted"], send["pending"]) == ("sending", 1, 1)


async def test_a_batch_is_refused_whole_only_when_empty_or_not_a_list(api: Api, shop: Tenant) -> None:
    bodies: list[dict[str, Any]] = [{"events": []}, {"events": {}}, {}]
    for body in bodies:
        answer = await api.client.post("/v1/events", json=body, headers=shop.headers)
        assert answer.status_code == 422, body
    assert (await api.client.post("/v1/events", json={"events": [1]})).status_code == 401


async def test_a_batch_with_no_event_accepted_is_a_422_naming_each_rejection(api: Api, shop: Tenant) -> None:
    """A 202 would tell a client that posts one event at a time that a malformed one was taken."""
    two_bad = {"events": [{"user_id": 1}, {"user_id": "u", "event_id": 1}]}
    none_ok = await api.client.post("/v1/events", json=two_bad, headers=shop.headers)
    assert none_ok.status_code == 422
    assert none_ok.json() == {"error": {
        "code": "no_event_accepted", "field": "events[0].event_id",
        "message": "no event of the batch was accepted; events[0]: event_id: an integer (2 rejected)",
        "rejected": [
            {"index": 0, "reason": "event_id: an integer"},
            {"index": 1, "reason": "timestamp: required (ISO 8601 with a time zone, or epoch milliseconds)"},
        ],
    }}
    assert await api.client.get("/v1/events/settings", headers=shop.headers)  # the app is untouched
    one_ok = await api.client.post("/v1/events", json={"events": [
        {"user_id": 1}, {"user_id": "u", "event_id": 1001, "timestamp": NOW_MS}]}, headers=shop.headers)
    assert one_ok.status_code == 202, one_ok.text
    assert [r["index"] for r in one_ok.json()["rejected"]] == [0]


async def test_an_epoch_timestamp_in_seconds_is_refused_with_the_milliseconds_it_meant(
    api: Api, shop: Tenant
) -> None:
    """Read as milliseconds, 1,900,000,000 is January 1970: no event is that old, so it was seconds."""
    answer = await api.client.post("/v1/events", json={"events": [
        {"user_id": "u", "event_id": 1001, "timestamp": 1_900_000_000},
        {"user_id": "u", "event_id": 1001, "timestamp": 0},  # no time given: taken as is
        {"user_id": "u", "event_id": 1001, "timestamp": NOW_MS}]}, headers=shop.headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 2
    assert answer.json()["rejected"] == [{"index": 0, "reason": (
        "timestamp: 1900000000 looks like seconds; give epoch milliseconds (1900000000000) or ISO 8601")}]


async def test_undecided_events_count_against_the_direct_queue_bound(make_api: MakeApi) -> None:
    api = await make_api(max_direct_queue_depth=5)
    shop = await api.tenant("shop")
    three = {"events": [{"user_id": f"u{n}", "event_id": 1001, "timestamp": NOW_MS} for n in range(3)]}
    first = await api.client.post("/v1/events", json=three, headers=shop.headers)
    assert first.status_code == 202
    refused = await api.client.post("/v1/events", json=three, headers=shop.headers)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert api.queue.depth(EVENTS_QUEUE) == 3  # the refused batch stored nothing


async def test_a_batch_whose_template_cannot_render_says_why(api: Api, shop: Tenant) -> None:
    await api.client.put("/v1/messages/hello", json=MESSAGE, headers=shop.headers)
    await api.device(shop, provider="apns", token=apns_token(8), user="u1")
    posted = await api.client.post("/v1/events", json={"events": [
        {"user_id": "u1", "event_id": 1001, "timestamp": NOW_MS}]}, headers=shop.headers)
    decide_batch(api.db, api.queue, posted.json()["id"], chunk_size=100, max_tries=3)
    shown = await api.client.get(f"/v1/events/{posted.json()['id']}", headers=shop.headers)
    outcome = shown.json()["outcome"]
    assert outcome["counts"] == {"deliveries": 0, "render_failed": 1}
    assert outcome["render_failures"] == [
        {"message": "hello", "reason": "MissingParameter:name", "count": 1,
         "detail": "the template uses params.name; the event did not carry it"}]
