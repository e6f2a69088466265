"""Per-provider queue limits: a send that would reach a saturated provider is refused with 503 and
Retry-After before anything is stored; sends to other providers are still accepted."""

from __future__ import annotations

from pushgate.planner.jobs import deliver_queue
from pushgate.queue import Job, SqlQueue
from pushgate.service.provider_limits import provider_depths
from tests.live_server import StartLive

APNS_TOKEN = "ab" * 32


async def test_a_full_provider_refuses_only_the_sends_that_reach_it(start_live: StartLive) -> None:
    live = await start_live(max_provider_queue_depth={"fcm": 10}, backpressure_retry_after=4)  # no workers
    await live.device(provider="fcm", token=f"limits-device:APA91b{'u' * 120}", user="android-user")
    await live.device(provider="apns", token=APNS_TOKEN, user="ios-user")
    note = {"title": "Hi"}

    # FCM's lanes hold 10 deliveries (a worker would have taken them from the fan-out).
    queue = SqlQueue(live.db)
    queue.enqueue([Job("held:1", deliver_queue("fcm", direct=False), {}, size=6),
                   Job("held:2", deliver_queue("fcm", direct=True), {}, size=4)])
    assert provider_depths(queue) == {"fcm": 10}

    to_android = {"notification": note, "target": {"users": ["android-user"]}}
    refused = await live.http.post("/v1/sends", json=to_android, headers=live.auth)
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "4"
    everyone = await live.http.post("/v1/sends", json={"notification": note, "target": {"all": True}},
                                    headers=live.auth)
    assert everyone.status_code == 503
    assert (await live.http.get("/v1/sends", headers=live.auth)).json()["items"] == []

    to_ios = {"notification": note, "target": {"users": ["ios-user"]}}
    ios = await live.http.post("/v1/sends", json=to_ios, headers=live.auth)
    assert ios.status_code == 202, ios.text
    apns_only = await live.http.post(
        "/v1/sends", json={"notification": note, "target": {"all": True, "providers": ["apns"]}},
        headers=live.auth,
    )
    assert apns_only.status_code == 202, apns_only.text

    # Below the limit again: accepted.
    queue.complete(["held:2"])
    again = await live.http.post("/v1/sends", json=to_android, headers=live.auth)
    assert again.status_code == 202, again.text
