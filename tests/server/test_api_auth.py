"""API keys: 401 without a valid one, 404 for another app's resources (as if missing), the admin token."""

from __future__ import annotations

import time
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


async def test_an_authorization_header_without_the_bearer_scheme_says_so(api: Api, shop: Tenant) -> None:
    for value, hint in ((shop.key, "the word Bearer is missing"), (f"Token {shop.key}", "not 'Token …'"),
                        ("Bearer ", "it carries no key")):
        answer = await api.client.get("/v1/devices", headers={"Authorization": value})
        assert answer.status_code == 401
        message = answer.json()["error"]["message"]
        assert message.startswith("the Authorization header must read 'Bearer <key>'"), message
        assert hint in message, message
        assert shop.key not in answer.text  # the key is not echoed
    admin = await api.client.get("/v1/apps", headers={"Authorization": "adm-token"})
    assert admin.json()["error"]["message"].startswith("the Authorization header must read 'Bearer <token>'")


async def test_apps_are_isolated_from_each_other(api: Api) -> None:
    a, b = await api.tenant("a"), await api.tenant("b")
    device = await api.device(a, provider="apns", token=apns_token(1), user="shared-id")
    accepted = (await api.client.post("/v1/sends", json=HELLO, headers=a.headers)).json()

    async def status(method: str, url: str, tenant: Tenant, **kwargs: Any) -> int:
        return (await api.client.request(method, url, headers=tenant.headers, **kwargs)).status_code

    device_url, send_url = f"/v1/devices/{device['id']}", f"/v1/sends/{accepted['id']}"
    missing_device = f"/v1/devices/{device['id'] + 1000}"
    missing_send = "/v1/sends/00000000-0000-0000-0000-000000000000"
    # Another app's resource answers exactly as a missing one: sequential ids must not
    # let an app count another's devices.
    others: list[tuple[str, str, str, dict[str, Any]]] = [
        ("GET", device_url, missing_device, {}),
        ("PATCH", device_url, missing_device, {"json": {"tags": ["x"]}}),
        ("DELETE", device_url, missing_device, {}),
        ("GET", f"{device_url}/deliveries", f"{missing_device}/deliveries", {}),
        ("GET", send_url, missing_send, {}),
        ("GET", f"{send_url}/deliveries", f"{missing_send}/deliveries", {}),
        ("POST", f"{send_url}/cancel", f"{missing_send}/cancel", {}),
    ]
    for method, url, missing, kwargs in others:
        answer = await api.client.request(method, url, headers=b.headers, **kwargs)
        nothing = await api.client.request(method, missing, headers=b.headers, **kwargs)
        assert (answer.status_code, answer.json()) == (404, nothing.json()), (method, url)
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


def mid_minute(api: Api) -> None:
    """The limiter's clock held in the middle of a minute: requests that straddled a window's
    end would be counted in two windows (fixed windows, service/rate_limits.py)."""
    held = time.time() // 60 * 60 + 30
    api.app.state.services.rate_limiter.clock = lambda: held


async def test_an_apps_rate_limit_answers_429_with_retry_after_per_api_key(api: Api, shop: Tenant) -> None:
    mid_minute(api)
    answer = await api.client.get("/v1/app", headers=shop.headers)
    assert "RateLimit-Limit" not in answer.headers  # no limit configured: no headers
    changed = await api.client.patch(f"/v1/apps/{shop.id}", json={"rate_limit_per_minute": 3},
                                     headers=ADMIN)
    assert changed.status_code == 200, changed.text
    answers = [await api.client.get("/v1/app", headers=shop.headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "3 requests this minute" in refused.json()["error"]["message"]
    key = await api.client.post(f"/v1/apps/{shop.id}/keys", json={"name": "second"}, headers=ADMIN)
    assert key.status_code == 201, key.text
    other = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await api.client.get("/v1/app", headers=other)).status_code == 200  # its own count


async def test_the_server_wide_rate_limit_applies_to_every_key(make_api: Any) -> None:
    api = await make_api(rate_limit_per_minute=1)
    mid_minute(api)
    shop = await api.tenant("limited")
    assert (await api.client.get("/v1/app", headers=shop.headers)).status_code == 200
    assert (await api.client.get("/v1/app", headers=shop.headers)).status_code == 429
