"""/v1/sends: accept (durably, once), count the audience, size per provider, backpressure, status."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from pushgate.planner import FANOUT_QUEUE
from pushgate.planner.fanout import fan_out
from pushgate.planner.jobs import deliver_queue
from pushgate.queue import Job, JobStatus
from pushgate.queue.tables import JobRow
from pushgate.registry import DeliveryStatus, Outcome, create_send, record_outcomes
from pushgate.registry.chunks import load_chunk
from pushgate.registry.models import Send
from tests.server.api_helpers import Api, Secrets, Tenant, apns_token, fcm_token

HELLO = {"title": "Hello", "body": "World"}


def stored(api: Api) -> tuple[int, int]:
    """(send rows, job rows) in the database."""
    with api.db.session(write=False) as session:
        sends = session.scalar(select(func.count()).select_from(Send))
        jobs = session.scalar(select(func.count()).select_from(JobRow))
    return int(sends or 0), int(jobs or 0)


async def send(api: Api, tenant: Tenant, target: dict[str, Any], *, status: int = 202,
               headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    body = {"notification": extra.pop("notification", HELLO), "target": target, **extra}
    answer = await api.client.post("/v1/sends", json=body, headers={**tenant.headers, **(headers or {})})
    assert answer.status_code == status, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_a_send_stores_one_send_and_one_fanout_job(api: Api, shop: Tenant) -> None:
    for i in range(3):
        await api.device(shop, provider="apns", token=apns_token(i))
    answer = await api.client.post("/v1/sends", json={"notification": HELLO, "target": {"all": True}},
                                   headers=shop.headers)
    assert answer.status_code == 202
    accepted = answer.json()
    assert (accepted["status"], accepted["targeted"], accepted["send_at"]) == ("queued", 3, None)
    assert answer.headers["location"] == f"/v1/sends/{accepted['id']}"
    assert stored(api) == (1, 1)
    job = api.queue.get(f"fanout:{accepted['id']}")
    assert job is not None
    assert (job.queue, job.status) == (FANOUT_QUEUE, JobStatus.QUEUED)
    assert job.payload == {"send_id": accepted["id"]}
    assert api.enqueued == [FANOUT_QUEUE]  # in-process workers were woken
    with api.db.session(write=False) as session:
        row = session.get(Send, accepted["id"])
        assert row is not None
        assert (row.app_id, row.target) == (shop.id, {"all": True})
        assert {k: row.notification[k] for k in HELLO} == HELLO


async def test_targeted_counts_the_matching_active_devices(api: Api, shop: Tenant) -> None:
    for i in range(4):
        await api.device(shop, provider="apns", token=apns_token(i), user=f"u{i % 2}", platform="ios",
                         tags=["beta"] if i == 0 else None)
    await api.device(shop, provider="fcm", token=fcm_token(1), user="u1", platform="android")
    inactive = await api.device(shop, provider="fcm", token=fcm_token(2), user="u0")
    await api.client.patch(f"/v1/devices/{inactive['id']}", json={"active": False}, headers=shop.headers)
    await api.client.post("/v1/users/u0/opt-outs", json={"topic": "promo"}, headers=shop.headers)

    async def targeted(target: dict[str, Any]) -> int | None:
        value: int | None = (await send(api, shop, target))["targeted"]
        return value

    assert await targeted({"all": True}) == 5
    assert await targeted({"users": ["u1"]}) == 3
    assert await targeted({"users": ["u0", "nobody"]}) == 2
    assert await targeted({"users": ["u0"], "topic": "promo"}) == 0
    assert await targeted({"all": True, "platforms": ["android"]}) == 1
    assert await targeted({"all": True, "providers": ["apns"], "tags": ["beta"]}) == 1
    assert await targeted({"tokens": [apns_token(1).upper(), fcm_token(2), "unknown-token-000000000"]}) == 1
    assert await targeted({"device_ids": [inactive["id"]]}) == 0


async def test_scheduled_send_waits_for_send_at(api: Api, shop: Tenant) -> None:
    at = datetime.now(UTC) + timedelta(days=1)
    accepted = await send(api, shop, {"all": True}, send_at=at.isoformat())
    assert accepted["targeted"] is None
    assert datetime.fromisoformat(accepted["send_at"]) == at
    job = api.queue.get(f"fanout:{accepted['id']}")
    assert job is not None
    assert abs(job.run_at - at.timestamp()) < 1e-3
    naive = await send(api, shop, {"all": True}, status=422, send_at="2031-01-01T09:00:00")
    assert naive["error"]["field"] == "body.send_at"


async def test_a_send_at_already_gone_is_refused_not_sent(api: Api, shop: Tenant) -> None:
    await api.device(shop, provider="apns", token=apns_token(1))
    gone = (datetime.now(UTC) - timedelta(days=365)).isoformat()  # last year's date
    refused = await send(api, shop, {"all": True}, status=422, send_at=gone)
    assert refused["error"]["field"] == "body.send_at"
    assert "omit send_at to send now" in refused["error"]["message"]
    assert api.queue.depth() == 0


async def test_idempotency_key_replays_the_first_answer(api: Api, shop: Tenant) -> None:
    await api.device(shop, provider="apns", token=apns_token(1))
    key = {"Idempotency-Key": "order-1234-shipped"}
    first = await api.client.post("/v1/sends", json={"notification": HELLO, "target": {"all": True}},
                                  headers={**shop.headers, **key})
    await api.device(shop, provider="apns", token=apns_token(2))  # the audience changes meanwhile
    again = await api.client.post("/v1/sends", json={"notification": HELLO, "target": {"all": True}},
                                  headers={**shop.headers, **key})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()  # the first answer, targeted 1 included
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert stored(api) == (1, 1)  # no second send, no second job

    different = {"notification": {"title": "Other"}, "target": {"all": True}}
    other = await api.client.post("/v1/sends", json=different, headers={**shop.headers, **key})
    assert other.status_code == 409
    assert other.json()["error"] == {
        "code": "idempotency_conflict", "field": "header.idempotency-key",
        "message": other.json()["error"]["message"],
    }
    assert stored(api) == (1, 1)

    # Keys are per app: another app may use the same key for its own send.
    other_app = await api.tenant("other")
    assert (await send(api, other_app, {"all": True}, headers=key))["id"] != first.json()["id"]


async def test_backpressure_refuses_before_storing(make_api: Any) -> None:
    api: Api = await make_api(max_queue_depth=10, backpressure_retry_after=7)
    shop = await api.tenant()
    api.queue.enqueue([Job(id="busy", queue="deliver:apns", payload={}, size=11)])  # 11 waiting deliveries
    answer = await api.client.post("/v1/sends", json={"notification": HELLO, "target": {"all": True}},
                                   headers={**shop.headers, "Idempotency-Key": "k"})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "7"
    assert answer.json()["error"]["code"] == "overloaded"
    assert stored(api) == (0, 1)  # nothing stored: only the job that was already there
    api.queue.complete(["busy"])
    assert (await api.client.post("/v1/sends", json={"notification": HELLO, "target": {"all": True}},
                                  headers={**shop.headers, "Idempotency-Key": "k"})).status_code == 202


async def test_payload_size_is_checked_for_each_provider_the_send_reaches(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    # An APNs-only block of 4.1 KB: over APNs' 4096 bytes, invisible to FCM.
    big = {"title": "Sale", "apns": {"payload": {"catalog": "x" * 4100}}}
    await api.credentials(shop, "fcm", provider_secrets.fcm)
    await api.credentials(shop, "apns", provider_secrets.apns)
    await api.device(shop, provider="fcm", token=fcm_token(1))
    await send(api, shop, {"all": True}, notification=big)  # no APNs device: nothing to refuse

    await api.device(shop, provider="apns", token=apns_token(1))
    before = stored(api)
    refused = await send(api, shop, {"all": True}, notification=big, status=413)
    assert refused["error"]["code"] == "payload_too_large"
    assert refused["error"]["provider"] == "apns"
    assert refused["error"]["limit"] == 4096
    assert refused["error"]["size"] > 4096
    assert refused["error"]["field"] == "body.notification"
    assert stored(api) == before
    await send(api, shop, {"all": True, "providers": ["fcm"]}, notification=big)  # narrowed to FCM: fits
    await send(api, shop, {"tokens": [fcm_token(1)]}, notification=big)  # an FCM device only: fits
    scheduled = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await send(api, shop, {"all": True}, notification=big, send_at=scheduled, status=413)

    body = {"title": "t", "body": "é" * 2100}  # 4.2 KB of text: too large everywhere but WNS
    refused = await send(api, shop, {"all": True}, notification=body, status=413)
    assert refused["error"]["provider"] == "apns"

    broken = await send(api, shop, {"all": True}, notification={"title": "t", "apns": {"big": 1}}, status=422)
    assert broken["error"]["code"] == "invalid_notification"
    assert broken["error"]["field"] == "body.notification.apns"


async def test_a_notification_windows_cannot_show_still_reaches_the_apps_other_devices(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    """Six actions: a toast has at most five buttons. The app holds WNS credentials, but
    the send reaches iOS devices only, so nothing is refused; a WNS device in the target is."""
    six = {"title": "Pick", "actions": [{"id": f"a{i}", "title": f"A{i}"} for i in range(6)]}
    await api.credentials(shop, "apns", provider_secrets.apns)
    await api.credentials(shop, "wns", {"client_id": "ms-app://s-1-15-2-1", "client_secret": "s3cret"})
    await api.device(shop, provider="apns", token=apns_token(1), user="ios-only")
    await send(api, shop, {"all": True}, notification=six)
    await api.device(shop, provider="wns", token="https://db5.notify.windows.com/?token=abc", user="pc")
    await send(api, shop, {"users": ["ios-only"]}, notification=six)
    refused = await send(api, shop, {"all": True}, notification=six, status=422)
    assert refused["error"]["field"].startswith("body.notification")
    assert refused["error"]["provider"] == "wns"
    assert refused["error"]["message"] == "wns: actions: a toast has at most 5 actions"


async def test_send_validation_names_the_field(api: Api, shop: Tenant) -> None:
    cases = [
        ({"notification": HELLO, "target": {}}, "body.target"),
        ({"notification": HELLO, "target": {"all": True, "users": ["a"]}}, "body.target"),
        ({"notification": HELLO, "target": {"users": []}}, "body.target.users"),
        ({"notification": HELLO, "target": {"all": True, "platforms": ["amiga"]}},
         "body.target.platforms[0]"),
        ({"notification": {"title": "t", "priority": "urgent"}, "target": {"all": True}},
         "body.notification.priority"),
        ({"notification": {"title": "t", "expiration": "2001-01-01T00:00:00Z"}, "target": {"all": True}},
         "body.notification.expiration"),
        ({"target": {"all": True}}, "body.notification"),
    ]
    for body, field in cases:
        answer = await api.client.post("/v1/sends", json=body, headers=shop.headers)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["field"] == field, (body, answer.json())
    assert stored(api) == (0, 0)


async def test_status_deliveries_and_cancel(api: Api, shop: Tenant) -> None:
    devices = [await api.device(shop, provider="apns", token=apns_token(i)) for i in range(3)]
    webpush_endpoint = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABlongsecretpart1234567890"
    from tests.server.api_helpers import subscription

    web = await api.device(shop, subscription=subscription(webpush_endpoint))
    accepted = await send(api, shop, {"all": True})
    url = f"/v1/sends/{accepted['id']}"
    status = (await api.client.get(url, headers=shop.headers)).json()
    assert (status["id"], status["status"]) == (accepted["id"], "queued")

    # What a worker does after fan-out and delivery, through the registry.
    with api.db.session() as session:
        row = session.get(Send, accepted["id"])
        assert row is not None
        row.targeted, row.status = 4, "sending"
        record_outcomes(session, accepted["id"], "apns", [
            Outcome(devices[0]["id"], DeliveryStatus.SENT, message_id="11111111-2222-3333-4444-555555555555"),
            Outcome(devices[1]["id"], DeliveryStatus.DEAD, reason="Unregistered"),
        ])
        record_outcomes(session, accepted["id"], "webpush", [Outcome(web["id"], DeliveryStatus.SENT)])
    status = (await api.client.get(url, headers=shop.headers)).json()
    assert {k: status[k] for k in ("targeted", "sent", "failed", "dead", "expired", "pending")} == {
        "targeted": 4, "sent": 2, "failed": 0, "dead": 1, "expired": 0, "pending": 1,
    }

    page = (await api.client.get(f"{url}/deliveries", params={"limit": 2}, headers=shop.headers)).json()
    assert [d["device_id"] for d in page["items"]] == [devices[0]["id"], devices[1]["id"]]
    first, second = page["items"]
    assert (first["status"], first["message_id"]) == ("sent", "11111111-2222-3333-4444-555555555555")
    assert (second["status"], second["reason"]) == ("dead", "Unregistered")
    assert first["token"] != apns_token(0)
    assert first["token"].startswith(apns_token(0)[:8])
    rest = (await api.client.get(f"{url}/deliveries", params={"cursor": page["next_cursor"]},
                                 headers=shop.headers)).json()
    assert rest["next_cursor"] is None
    [last] = rest["items"]
    assert last["token"].startswith("https://updates.push.services.mozilla.com/")
    assert "longsecretpart" not in last["token"]
    dead = (await api.client.get(f"{url}/deliveries", params={"status": "dead"}, headers=shop.headers)).json()
    assert [d["device_id"] for d in dead["items"]] == [devices[1]["id"]]

    listed = (await api.client.get("/v1/sends", headers=shop.headers)).json()
    assert [s["id"] for s in listed["items"]] == [accepted["id"]]

    cancelled = await api.client.post(f"{url}/cancel", headers=shop.headers)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert (await api.client.post(f"{url}/cancel", headers=shop.headers)).status_code == 200  # idempotent

    done = await send(api, shop, {"device_ids": [devices[2]["id"]]})
    with api.db.session() as session:
        row = session.get(Send, done["id"])
        assert row is not None
        row.status = "done"
    refused = await api.client.post(f"/v1/sends/{done['id']}/cancel", headers=shop.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_cancellable")
    missing = await api.client.get("/v1/sends/00000000-0000-0000-0000-000000000000", headers=shop.headers)
    assert missing.status_code == 404


async def test_notifications_alias(api: Api, shop: Tenant) -> None:
    answer = await api.client.post("/v1/notifications", json={"notification": HELLO, "target": {"all": True}},
                                   headers=shop.headers)
    assert answer.status_code == 202
    assert stored(api) == (1, 1)


async def test_listing_sends_pages_through_sends_sharing_a_timestamp(api: Api, shop: Tenant) -> None:
    # Sends stored in the same clock tick have equal created_at; a page boundary between
    # them must not lose the second one.
    tick = datetime(2030, 1, 1, tzinfo=UTC)
    with api.db.session() as session:
        ids = {create_send(session, shop.id, HELLO, {"all": True}, now=tick).id for _ in range(3)}
        older = create_send(session, shop.id, HELLO, {"all": True}, now=tick - timedelta(seconds=1)).id
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get("/v1/sends", params=params, headers=shop.headers)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen[:3]) == sorted(ids)
    assert seen[3:] == [older]


async def test_cancel_ends_deliveries_waiting_for_a_retry_as_cancelled(api: Api, shop: Tenant) -> None:
    devices = [await api.device(shop, provider="apns", token=apns_token(i)) for i in range(2)]
    accepted = await send(api, shop, {"device_ids": [d["id"] for d in devices]})
    fan_out(api.db, api.queue, accepted["id"])
    # A worker met a 429: the delivery job waits an hour for its retry.
    [job] = api.queue.claim([deliver_queue("apns", direct=True)], limit=1, lease_seconds=60, worker="w")
    api.queue.retry(job.id, reason="TooManyRequests", run_at=time.time() + 3600)

    url = f"/v1/sends/{accepted['id']}"
    answer = await api.client.post(f"{url}/cancel", headers=shop.headers)
    assert answer.status_code == 200
    assert {k: answer.json()[k] for k in ("status", "targeted", "cancelled", "pending")} == {
        "status": "cancelled", "targeted": 2, "cancelled": 0, "pending": 2,
    }
    waiting = api.queue.get(job.id)
    assert waiting is not None
    assert waiting.due_at <= time.time()  # brought forward, not left an hour

    # The worker that claims it now records the devices as cancelled instead of sending.
    [again] = api.queue.claim([deliver_queue("apns", direct=True)], limit=1, lease_seconds=60, worker="w")
    assert load_chunk(api.db, accepted["id"], "apns", again.payload["device_ids"]) == []
    status = (await api.client.get(url, headers=shop.headers)).json()
    assert {k: status[k] for k in ("status", "cancelled", "pending")} == {
        "status": "cancelled", "cancelled": 2, "pending": 0,
    }
    listed = (await api.client.get(f"{url}/deliveries", headers=shop.headers)).json()["items"]
    assert [(d["device_id"], d["status"], d["reason"]) for d in listed] == [
        (d["id"], "cancelled", "Cancelled") for d in devices
    ]


async def test_admission_counts_broadcasts_not_yet_fanned_out(make_api: Any) -> None:
    api: Api = await make_api(max_queue_depth=50, max_direct_queue_depth=5)
    shop = await api.tenant()
    devices = [await api.device(shop, provider="apns", token=apns_token(i)) for i in range(30)]
    first = await send(api, shop, {"all": True})
    assert first["targeted"] == 30
    # Nothing is fanned out yet (one fan-out job in the queue), but 30 deliveries are coming:
    # another 30 would make 60 of a bound of 50.
    refused = await api.client.post("/v1/sends", json={"notification": HELLO, "target": {"all": True}},
                                    headers=shop.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "overloaded")
    fan_out(api.db, api.queue, first["id"])  # expanded: now counted by the queue itself
    assert (await api.client.post("/v1/sends", json={"notification": HELLO, "target": {"all": True}},
                                  headers=shop.headers)).status_code == 503

    # Sends to named devices have headroom of their own: a login code still goes out.
    login = await send(api, shop, {"device_ids": [devices[0]["id"]]})
    assert login["targeted"] == 1
    await send(api, shop, {"tokens": [apns_token(i) for i in range(1, 4)]})  # 4 of the 5 direct
    crowded = await api.client.post(
        "/v1/sends", json={"notification": HELLO, "target": {"device_ids": [d["id"] for d in devices[4:6]]}},
        headers=shop.headers,
    )
    assert crowded.status_code == 503  # 4 + 2 > max_direct_queue_depth


async def test_an_empty_notification_is_refused_unless_data_or_silent(api: Api, shop: Tenant) -> None:
    for empty in ({}, {"ttl": 60, "priority": "high"}):
        answer = await api.client.post("/v1/sends", json={"notification": empty, "target": {"all": True}},
                                       headers=shop.headers)
        assert answer.status_code == 422, empty
        assert answer.json()["error"]["field"] == "body.notification"
    assert stored(api)[0] == 0
    await send(api, shop, {"all": True}, notification={"data": {"sync": 1}})
    await send(api, shop, {"all": True}, notification={"silent": True})
    await send(api, shop, {"all": True}, notification={"badge": 3})


async def test_a_send_to_users_names_the_unknown_ones(api: Api, shop: Tenant) -> None:
    await api.device(shop, provider="apns", token=apns_token(1), user="alice")
    nobody = await send(api, shop, {"users": ["bob", "carol"]})
    assert (nobody["targeted"], nobody["unknown_users"]) == (0, ["bob", "carol"])
    assert nobody["unknown_user_count"] == 2
    some = await send(api, shop, {"users": ["alice", "bob"]})
    assert (some["targeted"], some["unknown_users"], some["unknown_user_count"]) == (1, ["bob"], 1)
    many = await send(api, shop, {"users": [f"ghost-{i}" for i in range(150)]})
    assert (len(many["unknown_users"]), many["unknown_user_count"]) == (100, 150)
    assert "unknown_users" not in await send(api, shop, {"all": True})


async def test_a_send_to_tokens_names_those_the_app_has_no_device_for(api: Api, shop: Tenant) -> None:
    await api.device(shop, provider="apns", token=apns_token(1))
    await api.device(shop, provider="apns", token=apns_token(2))
    known = await send(api, shop, {"tokens": [apns_token(1), apns_token(2).upper()]})
    assert known["targeted"] == 2
    assert "unknown_tokens" not in known  # every token matched: nothing more is read or said
    some = await send(api, shop, {"tokens": [apns_token(1), apns_token(3), apns_token(3)]})
    assert (some["targeted"], some["unknown_tokens"], some["unknown_token_count"]) == (1, [apns_token(3)], 1)
    many = await send(api, shop, {"tokens": [apns_token(100 + i) for i in range(150)]})
    assert (many["targeted"], len(many["unknown_tokens"]), many["unknown_token_count"]) == (0, 100, 150)
    batch = await api.client.post("/v1/sends/batch", headers=shop.headers, json={"sends": [
        {"notification": {"title": "Hi"}, "target": {"tokens": [apns_token(2), apns_token(4)]}},
        {"notification": {"title": "Hi"}, "target": {"tokens": [apns_token(2)]}},
    ]})
    assert batch.status_code == 200, batch.text
    first, second = (result["send"] for result in batch.json()["results"])
    assert (first["unknown_tokens"], first["unknown_token_count"]) == ([apns_token(4)], 1)
    assert "unknown_tokens" not in second
