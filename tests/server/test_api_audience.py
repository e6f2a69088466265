"""Targeting through the API: tag expressions on sends, Pushpad's deliver_to answer, /v1/audience."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pushgate.planner.fanout import fan_out
from tests.server.api_helpers import Api, Tenant, fcm_token

HELLO = {"title": "Hello", "body": "World"}


async def population(api: Api, shop: Tenant) -> None:
    """u1: two devices (one tagged events); u2: one device, vip; u3: none; one anonymous device."""
    await api.device(shop, provider="fcm", token=fcm_token(1), user="u1", tags=["events"])
    await api.device(shop, provider="fcm", token=fcm_token(2), user="u1")
    await api.device(shop, provider="fcm", token=fcm_token(3), user="u2", tags=["events", "vip"])
    await api.device(shop, provider="fcm", token=fcm_token(4), tags=["zip_code:28865"])


async def test_deliver_to_answers_the_users_reached_and_the_devices(api: Api, shop: Tenant) -> None:
    await population(api, shop)
    answer = await api.client.post("/v1/sends", headers=shop.headers, json={
        "notification": HELLO, "target": {"users": ["u3", "u2", "u1"], "tags": ["events && !vip"]}})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert (accepted["uids"], accepted["scheduled"], accepted["targeted"]) == (["u1"], 1, 1)


async def test_a_scheduled_send_answers_send_at_and_no_uids(api: Api, shop: Tenant) -> None:
    await population(api, shop)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    answer = await api.client.post("/v1/sends", headers=shop.headers, json={
        "notification": HELLO, "target": {"users": ["u1"]}, "send_at": later})
    accepted = answer.json()
    assert accepted["send_at"] is not None
    assert "uids" not in accepted
    assert "scheduled" not in accepted


async def test_a_broadcast_with_an_expression_counts_what_it_reaches(api: Api, shop: Tenant) -> None:
    await population(api, shop)
    answer = await api.client.post("/v1/sends", headers=shop.headers, json={
        "notification": HELLO,
        "target": {"all": True, "tags": "zip_code:28865 && !optout:local_events || vip"}})
    assert (answer.json()["scheduled"], "uids" in answer.json()) == (2, False)


async def test_a_bad_expression_is_422_naming_field_and_position(api: Api, shop: Tenant) -> None:
    answer = await api.client.post("/v1/sends", headers=shop.headers, json={
        "notification": HELLO, "target": {"all": True, "tags": ["events", "a && (b"]}})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "body.target.tags[1]"
    assert error["message"].startswith("position 7:")


async def test_audience_counts_without_sending(api: Api, shop: Tenant) -> None:
    await population(api, shop)
    counted = await api.client.post("/v1/audience", headers=shop.headers, json={})
    assert counted.json() == {"devices": 4, "users": 2}
    counted = await api.client.post("/v1/audience", headers=shop.headers, json={"tags": "events"})
    assert counted.json() == {"devices": 2, "users": 2}
    counted = await api.client.post("/v1/audience", headers=shop.headers,
                                    json={"tags": ["!events"], "uids": ["u1", "u2", "nobody"]})
    assert counted.json() == {"devices": 1, "users": 1, "uids": ["u1"]}
    counted = await api.client.post("/v1/audience", headers=shop.headers,
                                    json={"providers": ["apns"]})
    assert counted.json() == {"devices": 0, "users": 0}
    refused = await api.client.post("/v1/audience", headers=shop.headers, json={"tags": "!"})
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "body.tags")
    sends = await api.client.get("/v1/sends", headers=shop.headers)
    assert sends.json()["items"] == []


async def test_a_local_time_send_is_one_scheduled_send_per_zone_group(api: Api, shop: Tenant) -> None:
    await api.client.put("/v1/app/defaults", headers=shop.headers, json={"timezone": "Europe/Berlin"})
    zones = (("paris", "Europe/Paris"), ("rome", "Europe/Rome"), ("tokyo", "Asia/Tokyo"))
    for number, (user, zone) in enumerate(zones):
        answer = await api.client.put(f"/v1/users/{user}", headers=shop.headers, json={"timezone": zone})
        assert answer.status_code in (200, 201), answer.text
        await api.device(shop, provider="fcm", token=fcm_token(number), user=user, tags=["news"])
    await api.device(shop, provider="fcm", token=fcm_token(10), tags=["news"])  # no zone: Berlin's
    await api.device(shop, provider="fcm", token=fcm_token(11), timezone="Asia/Tokyo")  # not tagged
    answer = await api.client.post("/v1/sends", headers=shop.headers, json={
        "notification": HELLO, "target": {"all": True, "tags": "news"}, "local_time": "09:00"})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert (accepted["local_time"], accepted["targeted"]) == ("09:00", 4)
    groups = {tuple(send["timezones"]): send for send in accepted["sends"]}
    assert set(groups) == {("Europe/Berlin", "Europe/Paris", "Europe/Rome"), ("Asia/Tokyo",)}
    assert groups[("Asia/Tokyo",)]["devices"] == 1
    for send in accepted["sends"]:
        local = datetime.fromisoformat(send["send_at"].replace("Z", "+00:00"))
        there = local.astimezone(ZoneInfo(send["timezones"][0]))
        assert (there.hour, there.minute) == (9, 0)
        assert local > datetime.now(UTC)
        status = await api.client.get(f"/v1/sends/{send['id']}", headers=shop.headers)
        assert status.json()["status"] == "queued"
    # Fan-out at the group's time reaches exactly that group's devices.
    european = groups[("Europe/Berlin", "Europe/Paris", "Europe/Rome")]
    assert fan_out(api.db, api.queue, european["id"]).targeted == 3


async def test_local_time_and_send_at_are_exclusive(api: Api, shop: Tenant) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    answer = await api.client.post("/v1/sends", headers=shop.headers, json={
        "notification": HELLO, "target": {"all": True}, "local_time": "09:00", "send_at": later})
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "body.local_time")
    answer = await api.client.post("/v1/sends", headers=shop.headers, json={
        "notification": HELLO, "target": {"all": True}, "local_time": "9am"})
    assert answer.status_code == 422


async def test_device_listing_filters_by_the_same_expression(api: Api, shop: Tenant) -> None:
    await population(api, shop)
    listed = await api.client.get("/v1/devices", headers=shop.headers, params={"tags": "events && !vip"})
    assert [device["token"] for device in listed.json()["items"]] == [fcm_token(1)]
    either = {"tags": "vip || zip_code:28865"}
    listed = await api.client.get("/v1/devices", headers=shop.headers, params=either)
    assert [device["token"] for device in listed.json()["items"]] == [fcm_token(3), fcm_token(4)]
    refused = await api.client.get("/v1/devices", headers=shop.headers, params={"tags": "a ||"})
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "query.tags")
