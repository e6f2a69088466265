"""``/v1/webhooks`` over HTTP: create (secret shown once), read, change, rotate, delete; 422s."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pushgate.registry import Database, create_app
from pushgate.registry.webhook_tables import Webhook

ADMIN = "admin-token-for-tests-0123456789"


def tenant(database: Database, name: str) -> dict[str, str]:
    with database.session() as session:
        _, key = create_app(session, name)
    return {"Authorization": f"Bearer {key}"}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/v1/webhooks", json={"url": "https://127.0.0.1:9443/hook", **body},
                             headers=headers)


async def test_create_shows_the_secret_once_and_get_shows_the_state(
    api_client: httpx.AsyncClient, database: Database,
) -> None:
    shop = tenant(database, "shop")
    made = await create(api_client, shop, events=["delivery.dead", "delivery.failed"])
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_")
    assert len(body["secret"]) > 40
    assert made.headers["location"] == f"/v1/webhooks/{body['id']}"
    shown = (await api_client.get(f"/v1/webhooks/{body['id']}", headers=shop)).json()
    assert shown["secret"] is None
    assert shown["events"] == ["delivery.dead", "delivery.failed"]
    assert shown["enabled"] is True
    assert (shown["consecutive_failures"], shown["pending_events"], shown["disabled_reason"]) == (0, 0, None)
    assert shown["last_success_at"] is None
    assert shown["last_error"] is None
    listed = (await api_client.get("/v1/webhooks", headers=shop)).json()
    assert [w["id"] for w in listed] == [body["id"]]
    with database.session(write=False) as session:  # stored sealed or plain, never shown again
        assert session.get(Webhook, body["id"]) is not None


async def test_change_rotate_and_delete(api_client: httpx.AsyncClient, database: Database) -> None:
    shop = tenant(database, "shop")
    made = (await create(api_client, shop)).json()
    path = f"/v1/webhooks/{made['id']}"
    changed = await api_client.patch(path, json={"enabled": False, "events": ["delivery.sent"]}, headers=shop)
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False
    assert changed.json()["disabled_reason"] == "disabled through the API"
    again = (await api_client.patch(path, json={"enabled": True}, headers=shop)).json()
    assert (again["enabled"], again["disabled_reason"], again["events"]) == (True, None, ["delivery.sent"])
    rotated = (await api_client.post(f"{path}/rotate-secret", headers=shop)).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != made["secret"]
    assert rotated["previous_secret_expires_at"] is not None  # by default the old secret signs for a day
    shown = (await api_client.get(path, headers=shop)).json()
    assert shown["secret"] is None
    assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    too_long = await api_client.post(f"{path}/rotate-secret", json={"previous_valid_seconds": 8 * 86400},
                                     headers=shop)
    assert (too_long.status_code, too_long.json()["error"]["field"]) == (422, "body.previous_valid_seconds")
    assert (await api_client.delete(path, headers=shop)).status_code == 204
    assert (await api_client.get(path, headers=shop)).status_code == 404


async def test_another_apps_webhook_is_not_found(api_client: httpx.AsyncClient, database: Database) -> None:
    shop, other = tenant(database, "shop"), tenant(database, "other")
    made = (await create(api_client, shop)).json()
    for method in ("GET", "PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"enabled": False}} if method == "PATCH" else {}
        answer = await api_client.request(method, f"/v1/webhooks/{made['id']}", headers=other, **kwargs)
        assert answer.status_code == 404, (method, answer.text)
    assert (await api_client.get("/v1/webhooks", headers=other)).json() == []
    assert (await api_client.get("/v1/webhooks")).status_code == 401


@pytest.mark.parametrize(("url", "why"), [
    ("https://10.1.2.3/hook", "10.1.2.3 is a private address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://[::ffff:10.0.0.1]/hook", "::ffff:10.0.0.1 is a private address"),
    ("https://[fe80::1]/hook", "link-local"),
    ("http://127.0.0.1/hook", "must use https"),
    ("not a url", "https:// URL"),
])
async def test_a_forbidden_url_is_a_422_naming_url_and_why(
    api_client: httpx.AsyncClient, database: Database, url: str, why: str,
) -> None:
    """The API allows 127.0.0.0/8 and ::1 (the test receiver's addresses) and nothing else."""
    shop = tenant(database, "shop")
    answer = await api_client.post("/v1/webhooks", json={"url": url}, headers=shop)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == "body.url"
    assert why in error["message"]
    made = (await create(api_client, shop)).json()
    patched = await api_client.patch(f"/v1/webhooks/{made['id']}", json={"url": url}, headers=shop)
    assert patched.status_code == 422
    assert patched.json()["error"]["field"] == "body.url"


async def test_unknown_event_types_are_a_422_naming_events(
    api_client: httpx.AsyncClient, database: Database,
) -> None:
    shop = tenant(database, "shop")
    for events in (["delivery.opened"], []):
        answer = await create(api_client, shop, events=events)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "body.events"
