"""An app's notification defaults fill what a send leaves out; its uid secret is write-only."""

from __future__ import annotations

import pytest

from pushgate.registry import Database, ValidationError
from pushgate.registry.app_defaults import check_uid_signature
from pushgate.registry.models import Send
from pushgate.uid_signature import signature_for
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


async def test_the_uid_secret_is_write_only_and_checks_signatures(api: Api, shop: Tenant) -> None:
    secret = "a-long-enough-uid-secret"
    answer = await api.client.put("/v1/app/uid-secret", headers=shop.headers, json={"secret": secret})
    assert answer.status_code == 204
    shown = await api.client.get("/v1/app", headers=shop.headers)
    assert secret not in shown.text
    assert (await api.client.get("/v1/app/defaults", headers=shop.headers)).json()["uid_secret_set"] is True
    check_signatures(api.db, shop.id, secret)
    assert (await api.client.delete("/v1/app/uid-secret", headers=shop.headers)).status_code == 204
    with api.db.session(write=False) as session:
        check_uid_signature(session, shop.id, "anyone", None)  # no secret: uids are not signed


def check_signatures(db: Database, app_id: int, secret: str) -> None:
    with db.session(write=False) as session:
        check_uid_signature(session, app_id, "user-1", signature_for(secret, "user-1"))
        wrong = (None, signature_for(secret, "user-2"), signature_for("another-secret-key", "user-1"))
        for signature in wrong:
            with pytest.raises(ValidationError) as refused:
                check_uid_signature(session, app_id, "user-1", signature)
            assert refused.value.field == "uid_signature"
