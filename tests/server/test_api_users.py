"""/v1/users/{external_id}: upsert, tags, opt-outs, a user's devices."""

from __future__ import annotations

from tests.server.api_helpers import Api, Tenant, apns_token, fcm_token


async def test_upsert_user(api: Api, shop: Tenant) -> None:
    created = await api.client.put("/v1/users/alice", json={"locale": "fr", "timezone": "Europe/Paris",
                                                            "tags": ["vip", "beta"]}, headers=shop.headers)
    assert created.status_code == 201
    assert created.json()["tags"] == ["beta", "vip"]
    updated = await api.client.put("/v1/users/alice", json={"locale": "de"}, headers=shop.headers)
    assert updated.status_code == 200
    user = updated.json()
    assert (user["external_id"], user["locale"], user["timezone"], user["tags"]) == (
        "alice", "de", "Europe/Paris", ["beta", "vip"],
    )
    assert (await api.client.get("/v1/users/alice", headers=shop.headers)).json() == user
    bad = await api.client.put("/v1/users/alice", json={"timezone": "Nowhere/Land"}, headers=shop.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "body.timezone")
    bad = await api.client.put("/v1/users/alice", json={"tags": "vip"}, headers=shop.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "body.tags")
    missing = await api.client.get("/v1/users/bob", headers=shop.headers)
    assert (missing.status_code, missing.json()["error"]["field"]) == (404, "path.external_id")


async def test_tags_and_opt_outs(api: Api, shop: Tenant) -> None:
    added = await api.client.post("/v1/users/u1/tags", json={"tags": ["a", "b", "c"]}, headers=shop.headers)
    assert added.json()["tags"] == ["a", "b", "c"]
    again = await api.client.post("/v1/users/u1/tags", json={"tags": ["a"]}, headers=shop.headers)
    assert again.json()["tags"] == ["a", "b", "c"]  # idempotent
    removed = await api.client.request("DELETE", "/v1/users/u1/tags", json={"tags": ["a", "zz"]},
                                       headers=shop.headers)
    assert removed.json()["tags"] == ["b", "c"]
    assert (await api.client.delete("/v1/users/u1/tags/b", headers=shop.headers)).json()["tags"] == ["c"]
    empty = await api.client.post("/v1/users/u1/tags", json={"tags": []}, headers=shop.headers)
    assert (empty.status_code, empty.json()["error"]["field"]) == (422, "body.tags")

    out = await api.client.post("/v1/users/u1/opt-outs", json={"topic": "promo"}, headers=shop.headers)
    assert out.json()["opt_outs"] == ["promo"]
    everything = await api.client.post("/v1/users/u1/opt-outs", json={}, headers=shop.headers)
    assert everything.json()["opt_outs"] == ["*", "promo"]
    back = await api.client.delete("/v1/users/u1/opt-outs/promo", headers=shop.headers)
    assert back.json()["opt_outs"] == ["*"]
    cleared = await api.client.delete("/v1/users/u1/opt-outs", headers=shop.headers)
    assert cleared.json()["opt_outs"] == []
    assert (await api.client.delete("/v1/users/nobody/opt-outs", headers=shop.headers)).status_code == 404
    assert (await api.client.delete("/v1/users/nobody/tags/x", headers=shop.headers)).status_code == 404


async def test_user_devices_and_delete(api: Api, shop: Tenant) -> None:
    one = await api.device(shop, provider="apns", token=apns_token(1), user="carol")
    two = await api.device(shop, provider="fcm", token=fcm_token(2), user="carol")
    await api.device(shop, provider="fcm", token=fcm_token(3), user="dave")
    await api.client.patch(f"/v1/devices/{two['id']}", json={"active": False}, headers=shop.headers)
    listed = (await api.client.get("/v1/users/carol/devices", headers=shop.headers)).json()
    assert [d["id"] for d in listed["items"]] == [one["id"]]
    inactive = (await api.client.get("/v1/users/carol/devices", params={"active": "false"},
                                     headers=shop.headers)).json()
    assert [d["id"] for d in inactive["items"]] == [two["id"]]
    assert (await api.client.get("/v1/users/nobody/devices", headers=shop.headers)).status_code == 404

    assert (await api.client.delete("/v1/users/carol", headers=shop.headers)).status_code == 204
    kept = await api.client.get(f"/v1/devices/{one['id']}", headers=shop.headers)
    assert (kept.status_code, kept.json()["user"]) == (200, None)
    gone = await api.client.delete("/v1/users/dave", params={"delete_devices": "true"}, headers=shop.headers)
    assert gone.status_code == 204
    left = (await api.client.get("/v1/devices", params={"provider": "fcm"}, headers=shop.headers)).json()
    assert [d["id"] for d in left["items"]] == [two["id"]]  # dave's device went with him
    assert (await api.client.delete("/v1/users/dave", headers=shop.headers)).status_code == 404


async def test_a_users_opt_outs_can_be_read_where_they_are_written(api: Api, shop: Tenant) -> None:
    await api.client.post("/v1/users/alice/opt-outs", json={"topic": "promo"}, headers=shop.headers)
    await api.client.post("/v1/users/alice/opt-outs", json={"topic": "news"}, headers=shop.headers)
    answer = await api.client.get("/v1/users/alice/opt-outs", headers=shop.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"opt_outs": ["news", "promo"]}
    user = (await api.client.get("/v1/users/alice", headers=shop.headers)).json()
    assert answer.json()["opt_outs"] == user["opt_outs"]
    await api.client.put("/v1/users/bob", json={}, headers=shop.headers)
    assert (await api.client.get("/v1/users/bob/opt-outs", headers=shop.headers)).json() == {"opt_outs": []}
    missing = await api.client.get("/v1/users/nobody/opt-outs", headers=shop.headers)
    assert (missing.status_code, missing.json()["error"]["field"]) == (404, "path.external_id")
    other = await api.tenant("other")
    assert (await api.client.get("/v1/users/alice/opt-outs", headers=other.headers)).status_code == 404
