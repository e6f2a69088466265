"""``POST /v1/sends/batch`` in-process: each item's error is the one ``POST /v1/sends`` answers."""

from __future__ import annotations

from typing import Any

from tests.server.api_helpers import Api, Tenant

HELLO = {"title": "Hello", "body": "World"}


async def _single_and_batch(api: Api, tenant: Tenant, body: dict[str, Any]) -> tuple[Any, Any]:
    single = await api.client.post("/v1/sends", json=body, headers=tenant.headers)
    assert single.status_code == 422, single.text
    batch = await api.client.post("/v1/sends/batch", json={"sends": [{"notification": HELLO,
                                  "target": {"all": True}}, body]}, headers=tenant.headers)
    assert batch.status_code == 200, batch.text
    result = batch.json()["results"][1]
    assert (result["index"], result["status"]) == (1, 422)
    return single.json()["error"], result["error"]


async def test_a_batch_item_with_an_unknown_field_is_told_the_field_meant(api: Api, shop: Tenant) -> None:
    single, item = await _single_and_batch(
        api, shop, {"notification": {"titel": "Hi"}, "target": {"all": True}})
    assert single["message"] == "unknown field 'titel'; did you mean 'title'?"
    assert item["message"] == single["message"]
    assert item["field"] == "body.sends[1].notification.titel"
    # An item's own field (idempotency_key) is among the names guessed from.
    _, item = await _single_and_batch(
        api, shop, {"notification": HELLO, "target": {"all": True}, "idempotency_ky": "k"})
    assert item["message"] == "unknown field 'idempotency_ky'; did you mean 'idempotency_key'?"


async def test_a_batch_item_with_several_problems_lists_them_as_the_send_route_does(
    api: Api, shop: Tenant,
) -> None:
    body = {"notification": {"titel": "Hi", "badge": -1}, "target": {"al": True}}
    single, item = await _single_and_batch(api, shop, body)
    assert item["message"] == single["message"]
    assert item["message"].startswith("3 problems; the first: ")
    assert item["field"] == single["field"].replace("body.", "body.sends[1].", 1)
    assert [(e["field"], e["message"]) for e in item["errors"]] == [
        (e["field"].replace("body.", "body.sends[1].", 1), e["message"]) for e in single["errors"]
    ]


async def test_a_batch_item_with_local_time_is_refused_rather_than_sent_now(api: Api, shop: Tenant) -> None:
    item = {"notification": HELLO, "target": {"all": True}, "local_time": "09:00"}
    answer = await api.client.post("/v1/sends/batch", json={"sends": [item]}, headers=shop.headers)
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert (result["status"], result["error"]["field"]) == (422, "body.sends[0].local_time")
    assert "POST /v1/sends" in result["error"]["message"]
    assert (await api.client.get("/v1/sends", headers=shop.headers)).json()["items"] == []
