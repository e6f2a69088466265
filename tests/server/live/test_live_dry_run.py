"""Dry run: every step of a send but the provider call — the simulator is never contacted."""

from __future__ import annotations

from pushgate.simulators.fcm import FCMSimulator
from tests.live_server import StartLive


async def test_a_dry_run_records_every_delivery_and_contacts_no_provider(
    start_live: StartLive, fcm_sim: FCMSimulator,
) -> None:
    live = await start_live(fcm=fcm_sim, dry_run=True)
    for n in range(3):
        await live.device(provider="fcm", token=f"dry-run-device-{n}:APA91b{'v' * 120}", user=f"u{n}")
    sent = await live.http.post("/v1/sends", headers=live.auth,
                                json={"notification": {"title": "Not really"}, "target": {"all": True}})
    status = await live.wait_done(sent.json()["id"])
    assert (status["targeted"], status["sent"], status["failed"]) == (3, 3, 0)
    listed = await live.http.get(f"/v1/sends/{sent.json()['id']}/deliveries", headers=live.auth)
    rows = listed.json()["items"]
    assert [(r["status"], r["reason"], r["message_id"]) for r in rows] == [("sent", "DryRun", None)] * 3

    # The simulator's read-back: nothing accepted, no request at all (not even an OAuth token).
    assert fcm_sim.accepted == []
    assert fcm_sim.requests == 0
    assert fcm_sim.oauth.issued == 0

    # An FCM topic send (one request to FCM in a real run) is recorded the same way.
    topic = await live.http.post("/v1/sends", headers=live.auth,
                                 json={"notification": {"title": "Deals"}, "target": {"topic": "deals"}})
    assert topic.status_code == 202, topic.text
    assert (await live.wait_done(topic.json()["id"]))["sent"] == 1
    listed = await live.http.get(f"/v1/sends/{topic.json()['id']}/deliveries", headers=live.auth)
    assert [(r["topic"], r["reason"]) for r in listed.json()["items"]] == [("deals", "DryRun")]

    # The payload is still built by the real provider: one FCM refuses fails as it would.
    huge = await live.http.post("/v1/sends", headers=live.auth,
                                json={"notification": {"title": "x", "data": {"blob": "y" * 5000}},
                                      "target": {"all": True}})
    assert huge.status_code == 413
    assert fcm_sim.requests == 0
