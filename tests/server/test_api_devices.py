"""/v1/devices: registration (201 new, 200 update), listing, reading, patching, deleting, import."""

from __future__ import annotations

from pushgate.registry import DeliveryStatus, Outcome, create_send, record_outcomes
from tests.server.api_helpers import Api, Tenant, apns_token, fcm_token, subscription


async def test_register_new_then_update_in_place(api: Api, shop: Tenant) -> None:
    body = {"provider": "apns", "token": apns_token(1).upper(), "user": "u1", "platform": "ios",
            "locale": "pt_BR", "tags": ["vip"]}
    first = await api.client.post("/v1/devices", json=body, headers=shop.headers)
    assert first.status_code == 201
    device = first.json()
    assert device["token"] == apns_token(1)  # normalized
    shown = (device["user"], device["platform"], device["locale"], device["tags"])
    assert shown == ("u1", "ios", "pt-BR", ["vip"])
    assert device["active"] is True

    again = await api.client.post("/v1/devices", json={"provider": "apns", "token": apns_token(1),
                                                       "app_version": "2.0"}, headers=shop.headers)
    assert again.status_code == 200
    assert again.json()["id"] == device["id"]
    assert again.json()["app_version"] == "2.0"
    assert again.json()["tags"] == ["vip"]  # fields not given are kept


async def test_register_web_push_subscription_as_the_browser_gives_it(api: Api, shop: Tenant) -> None:
    sub = subscription()
    answer = await api.client.post("/v1/devices", json={"subscription": sub, "user": "u2"},
                                   headers=shop.headers)
    assert answer.status_code == 201
    assert answer.json()["provider"] == "webpush"
    assert answer.json()["token"] == sub["endpoint"]
    assert "auth" not in answer.json()  # the subscription's secret is not echoed


async def test_registration_errors_name_the_field(api: Api, shop: Tenant) -> None:
    cases = [
        ({"provider": "apns", "token": "not-hex"}, "body.token"),
        ({"token": apns_token(1)}, "body.provider"),
        ({"provider": "fax", "token": apns_token(1)}, "body.provider"),
        ({"provider": "apns", "token": apns_token(1), "plaform": "ios"}, "body.plaform"),
        ({"provider": "apns", "token": apns_token(1), "locale": "not a locale"}, "body.locale"),
        ({"provider": "webpush", "token": "https://evil.example.com/push", "p256dh": "x", "auth": "y"},
         "body.endpoint"),
        ({"subscription": {**subscription(), "endpoint": "http://127.0.0.1/x"}},
         "body.subscription.endpoint"),
        ({"subscription": {**subscription(), "keys": {"p256dh": "AAAA", "auth": "AAAA"}}},
         "body.subscription.keys.p256dh"),
        ({"provider": "apns", "subscription": subscription()}, "body.provider"),
    ]
    for body, field in cases:
        answer = await api.client.post("/v1/devices", json=body, headers=shop.headers)
        assert answer.status_code == 422, (body, answer.text)
        error = answer.json()["error"]
        assert error["field"] == field, (body, error)
        assert error["code"] == "validation_error"
        assert error["message"]


async def test_list_filters_and_cursor_pagination(api: Api, shop: Tenant) -> None:
    for i in range(7):
        await api.device(shop, provider="apns", token=apns_token(i), platform="ios",
                         user="alice" if i < 3 else None, tags=["even"] if i % 2 == 0 else [])
    for i in range(3):
        await api.device(shop, provider="fcm", token=fcm_token(i), platform="android")

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/v1/devices", params=params, headers=shop.headers)).json()
        seen += [device["id"] for device in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 10

    async def count(**params: str | bool) -> int:
        answer = await api.client.get("/v1/devices", params=params, headers=shop.headers)
        assert answer.status_code == 200, answer.text
        return len(answer.json()["items"])

    assert await count(provider="fcm") == 3
    assert await count(platform="ios") == 7
    assert await count(user="alice") == 3
    assert await count(tag="even") == 4
    assert await count(active="false") == 0
    assert await count(token=fcm_token(1)) == 1
    bad = await api.client.get("/v1/devices", params={"platform": "palm"}, headers=shop.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "query.platform")
    bad = await api.client.get("/v1/devices", params={"cursor": "garbage!"}, headers=shop.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "query.cursor")
    bad = await api.client.get("/v1/devices", params={"limit": 0}, headers=shop.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "query.limit")


async def test_get_patch_delete(api: Api, shop: Tenant) -> None:
    device = await api.device(shop, provider="fcm", token=fcm_token(1), user="bob", tags=["a"])
    url = f"/v1/devices/{device['id']}"
    assert (await api.client.get(url, headers=shop.headers)).json()["user"] == "bob"

    patched = await api.client.patch(url, json={"tags": ["b", "c"], "user": None, "name": "Pixel"},
                                     headers=shop.headers)
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    assert (changed["tags"], changed["user"], changed["name"]) == (["b", "c"], None, "Pixel")
    assert patched.json()["registered_at"] == device["registered_at"]  # not a re-registration

    off = await api.client.patch(url, json={"active": False}, headers=shop.headers)
    assert (off.json()["active"], off.json()["inactive_reason"]) == (False, "DeactivatedByApp")
    on = await api.client.patch(url, json={"active": True}, headers=shop.headers)
    assert (on.json()["active"], on.json()["inactive_reason"]) == (True, None)

    bad = await api.client.patch(url, json={"timezone": "Mars/Olympus"}, headers=shop.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "body.timezone")
    bad = await api.client.patch(url, json={"token": "x"}, headers=shop.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "body.token")

    assert (await api.client.delete(url, headers=shop.headers)).status_code == 204
    gone = await api.client.get(url, headers=shop.headers)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")
    assert (await api.client.delete(url, headers=shop.headers)).status_code == 404


async def test_import_reports_bad_rows_and_stores_the_rest(api: Api, shop: Tenant) -> None:
    await api.device(shop, provider="apns", token=apns_token(0))
    rows = [
        {"provider": "apns", "token": apns_token(0), "user": "u0"},  # known: updated
        {"provider": "apns", "token": apns_token(1), "tags": ["t"]},
        {"provider": "fcm", "token": "short"},  # bad token
        "not an object",
        {"subscription": subscription(), "user": "u3"},
        {"provider": "apns", "token": apns_token(5), "colour": "red"},  # unknown field
    ]
    answer = await api.client.post("/v1/devices/import", json=rows, headers=shop.headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["created"], result["updated"]) == (2, 1)
    assert [(e["index"], e["field"]) for e in result["errors"]] == [(2, "token"), (3, "row"), (5, "colour")]
    listed = (await api.client.get("/v1/devices", headers=shop.headers)).json()["items"]
    assert len(listed) == 3

    not_a_list = await api.client.post("/v1/devices/import", json={"rows": rows}, headers=shop.headers)
    assert (not_a_list.status_code, not_a_list.json()["error"]["field"]) == (422, "body")


async def test_device_recent_deliveries(api: Api, shop: Tenant) -> None:
    device = await api.device(shop, provider="apns", token=apns_token(9))
    with api.db.session() as session:
        send = create_send(session, shop.id, {"title": "hi"}, {"device_ids": [device["id"]]})
        record_outcomes(session, send.id, "apns",
                        [Outcome(device["id"], DeliveryStatus.SENT, message_id="4b7a-apns-id")])
    answer = await api.client.get(f"/v1/devices/{device['id']}/deliveries", headers=shop.headers)
    assert answer.status_code == 200
    [delivery] = answer.json()
    assert (delivery["send_id"], delivery["status"]) == (send.id, "sent")
    assert delivery["message_id"] == "4b7a-apns-id"
