"""``GET /v1/users`` (filters, cursor pages), users' language and time zone, and deleting a user
with their devices — over HTTP on a live server, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.live_server import Live, StartLive


def _token(n: int) -> str:
    return f"users-device-{n:04d}:APA91b{'y' * 120}"


async def _ids(live: Live, **params: Any) -> list[str]:
    answer = await live.http.get("/v1/users", params=params, headers=live.auth)
    assert answer.status_code == 200, answer.text
    return [user["external_id"] for user in answer.json()["items"]]


async def test_users_are_listed_filtered_and_paged(start_live: StartLive) -> None:
    live = await start_live()
    for external_id, body in (
        ("alice", {"locale": "en", "timezone": "Europe/Paris", "tags": ["vip"]}),
        ("a_1", {"locale": "de"}),
        ("ab1", {"tags": ["vip", "beta"]}),
        ("bob", {}),
    ):
        answer = await live.http.put(f"/v1/users/{external_id}", json=body, headers=live.auth)
        assert answer.status_code == 201, answer.text
    await live.device(provider="fcm", token=_token(1), user="alice")
    await live.device(provider="fcm", token=_token(2), user="bob")

    assert await _ids(live) == ["alice", "a_1", "ab1", "bob"]
    assert await _ids(live, tag="vip") == ["alice", "ab1"]
    assert await _ids(live, locale="de") == ["a_1"]
    assert await _ids(live, has_devices="true") == ["alice", "bob"]
    assert await _ids(live, has_devices="false") == ["a_1", "ab1"]
    assert await _ids(live, prefix="a_") == ["a_1"]  # "_" is a literal, not a wildcard
    assert await _ids(live, prefix="a%") == []
    assert await _ids(live, prefix="a", tag="vip", has_devices="false") == ["ab1"]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await live.http.get("/v1/users", params=params, headers=live.auth)).json()
        seen += [user["external_id"] for user in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["alice", "a_1", "ab1", "bob"]
    alice = await live.http.get("/v1/users", params={"prefix": "alice"}, headers=live.auth)
    first = alice.json()["items"][0]
    assert (first["locale"], first["timezone"], first["tags"]) == ("en", "Europe/Paris", ["vip"])

    # Another app sees none of them; bad input names its field.
    other = await start_live()
    assert await _ids(other) == []
    bad = await live.http.get("/v1/users", params={"cursor": "nope"}, headers=live.auth)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "query.cursor")
    bad = await live.http.get("/v1/users", params={"locale": "not a locale"}, headers=live.auth)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "query.locale")
    assert (await live.http.get("/v1/users")).status_code == 401


async def test_language_and_time_zone_are_updated_and_a_user_is_deleted_with_devices(
    start_live: StartLive,
) -> None:
    live = await start_live()
    await live.device(provider="fcm", token=_token(1), user="carol")
    await live.device(provider="fcm", token=_token(2), user="carol")
    body = {"locale": "pt_BR", "timezone": "America/Sao_Paulo"}
    changed = await live.http.put("/v1/users/carol", json=body, headers=live.auth)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["locale"], changed.json()["timezone"]) == ("pt-BR", "America/Sao_Paulo")
    bad = await live.http.put("/v1/users/carol", json={"timezone": "Mars/Olympus"}, headers=live.auth)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "body.timezone")

    gone = await live.http.delete("/v1/users/carol", params={"delete_devices": "true"}, headers=live.auth)
    assert gone.status_code == 204
    devices = await live.http.get("/v1/devices", params={"active": "true"}, headers=live.auth)
    assert devices.json()["items"] == []
    assert (await live.http.get("/v1/users/carol", headers=live.auth)).status_code == 404
    assert await _ids(live) == []
