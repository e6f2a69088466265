"""/v1/messages: the catalog over HTTP, its checks naming the field, localizations, preview, opt-outs."""

from __future__ import annotations

from typing import Any

from tests.server.api_helpers import Api, Secrets, Tenant

WELCOME: dict[str, Any] = {
    "events": [1001, 1002], "cooldown": 3600, "expiry": 600, "screen": "inbox/new", "priority": "high",
    "extras": {"sound": "chime.caf", "data": {"kind": "welcome"}},
    "localizations": {"en": {"title": "Hi {name}", "body": "{count} new {{items}}"},
                      "fr": {"title": "Salut {name}", "body": "{count} nouveaux"}},
}


async def test_put_get_list_and_delete_a_message(api: Api, shop: Tenant) -> None:
    created = await api.client.put("/v1/messages/welcome", json=WELCOME, headers=shop.headers)
    assert created.status_code == 201, created.text
    assert created.json()["localizations"]["en"] == {"title": "Hi {name}", "body": "{count} new {{items}}"}
    replaced = await api.client.put("/v1/messages/welcome", json={**WELCOME, "cooldown": 60},
                                    headers=shop.headers)
    assert (replaced.status_code, replaced.json()["cooldown"]) == (200, 60)
    listed = await api.client.get("/v1/messages", headers=shop.headers)
    assert [m["name"] for m in listed.json()] == ["welcome"]
    got = await api.client.get("/v1/messages/welcome", headers=shop.headers)
    assert got.json()["events"] == [1001, 1002]
    other = await api.tenant("other")
    assert (await api.client.get("/v1/messages/welcome", headers=other.headers)).status_code == 404
    assert (await api.client.delete("/v1/messages/welcome", headers=shop.headers)).status_code == 204
    assert (await api.client.get("/v1/messages/welcome", headers=shop.headers)).status_code == 404
    assert (await api.client.delete("/v1/messages/welcome", headers=shop.headers)).status_code == 404


async def test_bad_messages_are_refused_naming_the_field(api: Api, shop: Tenant) -> None:
    en = {"title": "ok", "body": "ok"}
    cases = [
        ({**WELCOME, "events": [4001]}, "body.events[0]"),
        ({**WELCOME, "events": [1, 4500]}, "body.events[1]"),
        ({**WELCOME, "events": []}, "body.events"),
        ({**WELCOME, "localizations": {"en": {"title": "Hi {name", "body": "x"}}},
         "body.localizations.en.title"),
        ({**WELCOME, "localizations": {"en": {"title": "x", "body": "a } b"}}}, "body.localizations.en.body"),
        ({**WELCOME, "localizations": {"en": {"title": "{first-name}", "body": "x"}}},
         "body.localizations.en.title"),
        ({**WELCOME, "localizations": {"not a tag!": en}}, "body.localizations.not a tag!"),
        ({**WELCOME, "quiet_hours": "later"}, "body.quiet_hours"),
        ({**WELCOME, "extras": {"badge": -1}}, "body.extras.badge"),
        ({**WELCOME, "extras": {"title": "no"}}, "body.extras.title"),
        ({**WELCOME, "cooldown": -5}, "body.cooldown"),
    ]
    for body, field in cases:
        answer = await api.client.put("/v1/messages/welcome", json=body, headers=shop.headers)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["field"] == field, (body, answer.json())
    bad_name = await api.client.put("/v1/messages/has%20space", json=WELCOME, headers=shop.headers)
    assert bad_name.status_code == 422
    assert (await api.client.get("/v1/messages", headers=shop.headers)).json() == []


async def test_localizations_are_sub_resources(api: Api, shop: Tenant) -> None:
    await api.client.put("/v1/messages/welcome", json=WELCOME, headers=shop.headers)
    url = "/v1/messages/welcome/localizations"
    created = await api.client.put(f"{url}/pt-BR", json={"title": "Oi {name}", "body": "b"},
                                   headers=shop.headers)
    assert created.status_code == 201, created.text
    again = await api.client.put(f"{url}/pt-br", json={"title": "Olá {name}", "body": "b"},
                                 headers=shop.headers)
    assert again.status_code == 200
    assert (await api.client.get(f"{url}/pt-BR", headers=shop.headers)).json()["title"] == "Olá {name}"
    assert sorted((await api.client.get(url, headers=shop.headers)).json()) == ["en", "fr", "pt-br"]
    bad = await api.client.put(f"{url}/de", json={"title": "{", "body": ""}, headers=shop.headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "body.localization.title")
    assert (await api.client.delete(f"{url}/fr", headers=shop.headers)).status_code == 204
    assert (await api.client.get(f"{url}/fr", headers=shop.headers)).status_code == 404
    missing = await api.client.put("/v1/messages/nope/localizations/en", json={"title": "x"},
                                   headers=shop.headers)
    assert missing.status_code == 404


async def test_preview_renders_per_provider_with_the_size_and_the_limit(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    await api.credentials(shop, "apns", provider_secrets.apns)
    await api.credentials(shop, "fcm", provider_secrets.fcm)
    settings = await api.client.patch("/v1/events/settings", json={"deep_link_base": "myapp://open"},
                                      headers=shop.headers)
    assert settings.status_code == 200, settings.text
    await api.client.put("/v1/messages/welcome", json=WELCOME, headers=shop.headers)
    await api.client.put("/v1/users/ana", json={"locale": "fr-CA"}, headers=shop.headers)
    answer = await api.client.post("/v1/messages/welcome/preview",
                                   json={"user_id": "ana", "params": {"name": "Ana", "count": "2"}},
                                   headers=shop.headers)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert (shown["language"], shown["title"], shown["body"]) == ("fr", "Salut Ana", "2 nouveaux")
    assert shown["url"] == "myapp://open/inbox/new"
    by_provider = {p["provider"]: p for p in shown["providers"]}
    assert sorted(by_provider) == ["apns", "fcm"]
    apns = by_provider["apns"]
    assert apns["payload"]["aps"]["alert"] == {"title": "Salut Ana", "body": "2 nouveaux"}
    assert (apns["fits"], apns["limit"]) == (True, 4096)
    assert 0 < apns["size"] < 4096
    assert by_provider["fcm"]["payload"]["message"]["notification"]["title"] == "Salut Ana"
    english = await api.client.post("/v1/messages/welcome/preview",
                                    json={"locale": "de-AT", "params": {"name": "Jo", "count": "1"}},
                                    headers=shop.headers)
    assert (english.json()["language"], english.json()["body"]) == ("en", "1 new {items}")
    huge = await api.client.post("/v1/messages/welcome/preview",
                                 json={"locale": "en", "params": {"name": "x" * 2100, "count": "y" * 2100}},
                                 headers=shop.headers)
    apns_huge = {p["provider"]: p for p in huge.json()["providers"]}["apns"]
    assert apns_huge["fits"] is False
    assert apns_huge["size"] > apns_huge["limit"] == 4096
    missing = await api.client.post("/v1/messages/welcome/preview", json={"locale": "en", "params": {}},
                                    headers=shop.headers)
    assert (missing.status_code, missing.json()["error"]["field"]) == (422, "body.params.name")


async def test_message_optouts_of_a_user(api: Api, shop: Tenant) -> None:
    await api.client.put("/v1/messages/welcome", json=WELCOME, headers=shop.headers)
    url = "/v1/users/ana/message-optouts"
    assert (await api.client.get(url, headers=shop.headers)).status_code == 404
    put = await api.client.put(url, json={"messages": ["welcome"]}, headers=shop.headers)
    assert put.json() == {"messages": ["welcome"]}
    assert (await api.client.get(url, headers=shop.headers)).json() == {"messages": ["welcome"]}
    unknown = await api.client.put(url, json={"messages": ["nope"]}, headers=shop.headers)
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "body.messages")
    cleared = await api.client.put(url, json={"messages": []}, headers=shop.headers)
    assert cleared.json() == {"messages": []}


async def test_event_settings_are_checked(api: Api, shop: Tenant) -> None:
    cases = [
        ({"quiet_start": "25:00"}, "body.settings.quiet_start"),
        ({"quiet_start": "22:00"}, "body.settings.quiet_end"),
        ({"default_language": "??"}, "body.settings.default_language"),
        ({"optout_event_id": 4001}, "body.settings.optout_event_id"),
    ]
    for body, field in cases:
        answer = await api.client.patch("/v1/events/settings", json=body, headers=shop.headers)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["field"] == field, (body, answer.json())
    ok = await api.client.patch("/v1/events/settings", json={"quiet_start": "22:00", "quiet_end": "07:00",
                                                             "frequency_cap": 3}, headers=shop.headers)
    assert ok.json()["frequency_cap"] == 3
    assert (await api.client.get("/v1/events/settings", headers=shop.headers)).json()["quiet_end"] == "07:00"
