"""API keys: 401 without a valid one, 403 for another app's resources, and the admin token."""

from __future__ import annotations

from typing import Any

from tests.server.api_helpers import ADMIN, Api, Tenant, apns_token

HELLO = {"notification": {"title": "Hello"}, "target": {"all": True}}


async def test_missing_unknown_and_revoked_keys_are_401(api: Api, shop: Tenant) -> None:
    for headers in ({}, {"Authorization": "Bearer pg_abcdefgh_nottherealsecret"},
                    {"X-API-Key": "garbage"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        answer = await api.client.get("/v1/devices", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert (await api.client.get("/v1/devices", headers={"X-API-Key": shop.key})).status_code == 200
    assert (await api.client.get("/v1/devices", headers=shop.headers)).status_code == 200

    second = await api.client.post(f"/v1/apps/{shop.id}/keys", json={"name": "ci"}, headers=ADMIN)
    assert second.status_code == 201
    new_key = second.json()["key"]
    keys = (await api.client.get(f"/v1/apps/{shop.id}/keys", headers=ADMIN)).json()
    assert [k["name"] for k in keys] == ["default", "ci"]
    assert all("key" not in k for k in keys)
    revoked = await api.client.delete(f"/v1/apps/{shop.id}/keys/{keys[0]['id']}", headers=ADMIN)
    assert revoked.status_code == 204
    assert (await api.client.get("/v1/devices", headers=shop.headers)).status_code == 401
    assert (await api.client.get("/v1/devices", headers={"X-API-Key": new_key})).status_code == 200
    again = await api.client.delete(f"/v1/apps/{shop.id}/keys/{keys[0]['id']}", headers=ADMIN)
    assert again.status_code == 404


async def test_apps_are_isolated_from_each_other(api: Api) -> None:
    a, b = await api.tenant("a"), await api.tenant("b")
    device = await api.device(a, provider="apns", token=apns_token(1), user="shared-id")
    accepted = (await api.client.post("/v1/sends", json=HELLO, headers=a.headers)).json()

    async def status(method: str, url: str, tenant: Tenant, **kwargs: Any) -> int:
        return (await api.client.request(method, url, headers=tenant.headers, **kwargs)).status_code

    device_url, send_url = f"/v1/devices/{device['id']}", f"/v1/sends/{accepted['id']}"
    forbidden: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", device_url, {}), ("PATCH", device_url, {"json": {"tags": ["x"]}}),
        ("DELETE", device_url, {}), ("GET", f"{device_url}/deliveries", {}),
        ("GET", send_url, {}), ("GET", f"{send_url}/deliveries", {}), ("POST", f"{send_url}/cancel", {}),
    ]
    for method, url, kwargs in forbidden:
        assert await status(method, url, b, **kwargs) == 403, (method, url)
        answer = await api.client.request(method, url, headers=b.headers, **kwargs)
        assert answer.json()["error"]["code"] == "forbidden"
    # A's resources are untouched and still A's.
    assert await status("GET", device_url, a) == 200
    assert (await api.client.get(device_url, headers=a.headers)).json()["tags"] == []
    assert (await api.client.get(send_url, headers=a.headers)).json()["status"] == "queued"

    # B sees nothing of A in lists, by user, by token, or in what its sends target.
    assert (await api.client.get("/v1/devices", headers=b.headers)).json()["items"] == []
    by_token = await api.client.get("/v1/devices", params={"token": apns_token(1)}, headers=b.headers)
    assert by_token.json()["items"] == []
    assert (await api.client.get("/v1/users/shared-id", headers=b.headers)).status_code == 404
    assert (await api.client.get("/v1/sends", headers=b.headers)).json()["items"] == []
    b_send = (await api.client.post("/v1/sends", json={"notification": {"title": "x"},
                                                       "target": {"device_ids": [device["id"]]}},
                                    headers=b.headers)).json()
    assert b_send["targeted"] == 0
    # The same token registered by B is B's own device.
    mine = await api.device(b, provider="apns", token=apns_token(1))
    assert mine["id"] != device["id"]
    # And an app key is no admin token.
    assert (await api.client.get("/v1/apps", headers=a.headers)).status_code == 403


async def test_admin_routes_need_the_admin_token(api: Api, make_api: Any) -> None:
    assert (await api.client.get("/v1/apps")).status_code == 401
    wrong = await api.client.get("/v1/apps", headers={"Authorization": "Bearer not-the-token"})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "unauthorized")
    assert (await api.client.get("/v1/apps", headers=ADMIN)).status_code == 200

    closed: Api = await make_api(admin_token=None)
    refused = await closed.client.get("/v1/apps", headers=ADMIN)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_disabled")


async def test_own_app_view(api: Api, shop: Tenant) -> None:
    mine = await api.client.get("/v1/app", headers=shop.headers)
    assert mine.status_code == 200
    assert (mine.json()["id"], mine.json()["name"]) == (shop.id, "shop")
    assert {p["provider"]: p["configured"] for p in mine.json()["provider_states"]} == {
        "apns": False, "fcm": False, "webpush": False, "wns": False,
    }
    assert (await api.client.get("/v1/app")).status_code == 401
