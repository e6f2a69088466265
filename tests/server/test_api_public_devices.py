"""Devices registering themselves with a user token: their own user's devices, tags and opt-outs only."""

from __future__ import annotations

import time

from pushgate.user_token import mint_user_token
from tests.server.api_helpers import Api, Tenant, fcm_token
from tests.server.websdk_helpers import Sdk, setup_sdk


def _as(sdk: Sdk, user: str, *, ttl: int = 3600, now: float | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_user_token(sdk.secret, sdk.public_id, user, ttl=ttl, now=now)}"}


async def test_a_device_registers_lists_changes_and_deletes_its_own(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    alice = _as(sdk, "alice")
    body = {"provider": "fcm", "token": fcm_token(1), "platform": "android", "tags": ["beta"]}
    created = await api.client.post(sdk.me("/devices"), json=body, headers=alice)
    assert created.status_code == 201, created.text
    device = created.json()
    assert device["user"] == "alice"
    assert device["tags"] == ["beta"]
    again = await api.client.post(sdk.me("/devices"), json=body, headers=alice)
    assert again.status_code == 200
    assert again.json()["id"] == device["id"]

    listed = await api.client.get(sdk.me("/devices"), headers=alice)
    assert [d["id"] for d in listed.json()] == [device["id"]]
    changed = await api.client.patch(sdk.me(f"/devices/{device['id']}"), headers=alice,
                                     json={"tags": ["beta", "news"], "locale": "fr"})
    assert changed.status_code == 200
    assert changed.json()["tags"] == ["beta", "news"]
    assert changed.json()["locale"] == "fr"
    refused = await api.client.patch(sdk.me(f"/devices/{device['id']}"), headers=alice,
                                     json={"user": "bob"})
    assert refused.status_code == 422  # a device cannot give itself to another user

    deleted = await api.client.delete(sdk.me(f"/devices/{device['id']}"), headers=alice)
    assert deleted.status_code == 204
    assert (await api.client.get(f"/v1/devices/{device['id']}", headers=shop.headers)).status_code == 404


async def test_one_user_cannot_touch_another_users_devices(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    alice, bob = _as(sdk, "alice"), _as(sdk, "bob")
    body = {"provider": "fcm", "token": fcm_token(2), "platform": "android"}
    device = (await api.client.post(sdk.me("/devices"), json=body, headers=alice)).json()
    path = sdk.me(f"/devices/{device['id']}")

    assert (await api.client.get(sdk.me("/devices"), headers=bob)).json() == []
    assert (await api.client.patch(path, json={"tags": ["x"]}, headers=bob)).status_code == 404
    assert (await api.client.delete(path, headers=bob)).status_code == 404
    taken = await api.client.post(sdk.me("/devices"), json=body, headers=bob)
    assert taken.status_code == 409
    assert taken.json()["error"]["field"] == "body.token"
    named = await api.client.post(sdk.me("/devices"), headers=bob,
                                  json={**body, "token": fcm_token(3), "user": "alice"})
    assert named.status_code == 403
    assert named.json()["error"]["field"] == "body.user"

    stored = await api.client.get(f"/v1/devices/{device['id']}", headers=shop.headers)
    assert stored.json()["user"] == "alice"
    assert stored.json()["tags"] == []


async def test_tags_and_opt_outs_are_the_users_own(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    alice = _as(sdk, "alice")
    tagged = await api.client.put(sdk.me("/tags"), json={"tags": ["vip"]}, headers=alice)
    assert tagged.status_code == 200
    assert tagged.json()["tags"] == ["vip"]
    out = await api.client.post(sdk.me("/opt-outs"), json={"topic": "promotions"}, headers=alice)
    assert out.json()["opt_outs"] == ["promotions"]
    back = await api.client.delete(sdk.me("/opt-outs/promotions"), headers=alice)
    assert back.json()["opt_outs"] == []
    user = await api.client.get("/v1/users/alice", headers=shop.headers)
    assert user.json()["tags"] == ["vip"]
    assert (await api.client.get("/v1/users/bob", headers=shop.headers)).status_code == 404


async def test_tokens_that_do_not_open_the_routes(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    other = await setup_sdk(api, await api.tenant("other"))
    route = sdk.me("/devices")
    assert (await api.client.get(route)).status_code == 401
    expired = _as(sdk, "alice", ttl=60, now=time.time() - 120)
    assert (await api.client.get(route, headers=expired)).json()["error"]["message"] == (
        "the user token has expired")
    foreign = _as(other, "alice")  # another app's token, another secret
    assert (await api.client.get(route, headers=foreign)).status_code == 401
    forged = {"Authorization": f"Bearer {mint_user_token('x' * 43, sdk.public_id, 'alice')}"}
    assert (await api.client.get(route, headers=forged)).status_code == 401
    api_key = shop.headers  # the app's API key is not a user token
    assert (await api.client.get(route, headers=api_key)).status_code == 401
    # A user token opens nothing else: not the app API.
    assert (await api.client.get("/v1/devices", headers=_as(sdk, "alice"))).status_code == 401
