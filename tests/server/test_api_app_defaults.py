"""An app's notification defaults fill what a send leaves out; its uid secret is write-only."""

from __future__ import annotations

from pushgate.registry.models import Send
from pushgate.registry.websdk import get_web_sdk, sdk_secret
from tests.server.api_helpers import Api, Tenant, fcm_token


async def test_defaults_fill_only_the_fields_a_send_leaves_out(api: Api, shop: Tenant) -> None:
    answer = await api.client.put("/v1/app/defaults", headers=shop.headers, json={
        "notification": {"title": "Shop", "icon": "https://shop.example/icon.png", "ttl": 600,
                         "require_interaction": True, "url": "https://shop.example/"},
        "timezone": "Europe/Rome"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"notification": {"title": "Shop", "icon": "https://shop.example/icon.png",
                                              "ttl": 600, "require_interaction": True,
                                              "url": "https://shop.example/"},
                             "timezone": "Europe/Rome", "uid_secret_set": False}
    await api.device(shop, provider="fcm", token=fcm_token(1))
    sent = await api.client.post("/v1/sends", headers=shop.headers, json={
        "notification": {"body": "Sale", "title": "Own title", "require_interaction": False},
        "target": {"all": True}})
    assert sent.status_code == 202, sent.text
    with api.db.session(write=False) as session:
        row = session.get(Send, sent.json()["id"])
        assert row is not None
        stored = row.notification
    fields = ("title", "body", "icon", "ttl", "require_interaction")
    expected = ["Own title", "Sale", "https://shop.example/icon.png", 600, False]
    assert [stored[name] for name in fields] == expected


async def test_bad_defaults_are_422_naming_the_field(api: Api, shop: Tenant) -> None:
    for body, field in (({"notification": {"data": {"a": 1}}}, "body.notification.data"),
                        ({"notification": {"ttl": -1}}, "body.notification.ttl"),
                        ({"timezone": "Mars/Olympus"}, "body.timezone")):
        answer = await api.client.put("/v1/app/defaults", headers=shop.headers, json=body)
        assert (answer.status_code, answer.json()["error"]["field"]) == (422, field), answer.text


async def test_the_uid_secret_is_write_only_and_is_the_web_sdks_secret(api: Api, shop: Tenant) -> None:
    """One secret per app: the one set here is what the Web SDK's registration checks signed
    uids with (and mints user tokens with); setting it requires signatures, deleting stops."""
    secret = "a-long-enough-uid-secret"
    short = await api.client.put("/v1/app/uid-secret", headers=shop.headers, json={"secret": "short"})
    assert (short.status_code, short.json()["error"]["field"]) == (422, "body.secret")
    answer = await api.client.put("/v1/app/uid-secret", headers=shop.headers, json={"secret": secret})
    assert answer.status_code == 204
    for shown in ("/v1/app", "/v1/app/defaults", "/v1/app/websdk"):
        assert secret not in (await api.client.get(shown, headers=shop.headers)).text
    assert (await api.client.get("/v1/app/defaults", headers=shop.headers)).json()["uid_secret_set"] is True
    with api.db.session(write=False) as session:
        config = get_web_sdk(session, shop.id)
        assert config is not None
        assert config.require_uid_signature
        assert sdk_secret(config, api.app.state.services.cipher) == secret
    assert (await api.client.delete("/v1/app/uid-secret", headers=shop.headers)).status_code == 204
    assert (await api.client.get("/v1/app/defaults", headers=shop.headers)).json()["uid_secret_set"] is False


async def test_an_unknown_default_is_told_apart_from_one_that_cannot_be_defaulted(
    api: Api, shop: Tenant,
) -> None:
    async def refused(body: dict[str, object]) -> tuple[str, str]:
        answer = await api.client.put("/v1/app/defaults", headers=shop.headers, json=body)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        return error["field"], error["message"]

    assert await refused({"notification": {"titel": "a"}}) == (
        "body.notification.titel", "unknown field 'titel'; did you mean 'title'?")
    assert await refused({"notification": {"zzzzz": "a"}}) == (
        "body.notification.zzzzz", "unknown field 'zzzzz'")
    # Real notification fields that a send must give itself keep their own message.
    for name, value in (("body", "a"), ("badge", 1)):
        assert await refused({"notification": {name: value}}) == (
            f"body.notification.{name}", "cannot have an app default")
    # A default given beside notification rather than in it is told where it goes.
    assert await refused({"icon": "https://shop.example/icon.png"}) == (
        "body.icon", "unknown field 'icon'; put it under 'notification'")
    # ... but not a notification field that cannot be defaulted anyway.
    assert await refused({"body": "a"}) == ("body.body", "unknown field 'body'")
