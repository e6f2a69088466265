"""The Pushpad-compatible API in-process: both token forms, project isolation, errors, its prefix.

The whole client surface is driven by Pushpad's own client in
tests/e2e/test_e2e_pushpad_client.py; this file covers what that client
never sends.
"""

from __future__ import annotations

from tests.server.api_helpers import ADMIN_TOKEN, Api, Tenant
from tests.server.conftest import MakeApi

BASE = "/pushpad/api/v1"


async def test_both_token_forms_authenticate(api: Api, shop: Tenant) -> None:
    for header in (f"Bearer {shop.key}", f'Token token="{shop.key}"'):
        answer = await api.client.get(f"{BASE}/projects", headers={"Authorization": header})
        assert answer.status_code == 200, answer.text
        assert [project["id"] for project in answer.json()] == [shop.id]
    refused: list[dict[str, str]] = [{}, {"Authorization": "Bearer pg_unknown"}, {"Authorization": "Basic x"}]
    for headers in refused:
        answer = await api.client.get(f"{BASE}/projects", headers=headers)
        assert answer.status_code == 401


async def test_an_app_key_reaches_its_own_project_only(api: Api, shop: Tenant) -> None:
    other = await api.tenant("other")
    own = {"Authorization": f"Bearer {shop.key}"}
    for method, path in (("GET", f"/projects/{other.id}"), ("GET", f"/projects/{other.id}/subscriptions"),
                         ("POST", f"/projects/{other.id}/notifications")):
        answer = await api.client.request(method, BASE + path, headers=own, json={"body": "x"})
        assert answer.status_code == 404, (path, answer.text)
    for method, path in (("GET", "/senders"), ("POST", "/projects"), ("DELETE", f"/projects/{shop.id}")):
        answer = await api.client.request(method, BASE + path, headers=own, json={})
        assert answer.status_code in (403, 422), (path, answer.text)
    answer = await api.client.delete(f"{BASE}/projects/{shop.id}", headers=own)
    assert answer.status_code == 403
    sent = await api.client.post(f"{BASE}/projects/{other.id}/notifications", json={"body": "x"},
                                 headers={"Authorization": f"Bearer {other.key}"})
    assert sent.status_code == 201
    missing = await api.client.get(f"{BASE}/notifications/{sent.json()['id']}", headers=own)
    assert missing.status_code == 404


async def test_bad_input_names_the_field(api: Api, shop: Tenant) -> None:
    own = {"Authorization": f"Bearer {shop.key}"}
    answer = await api.client.post(f"{BASE}/projects/{shop.id}/notifications", headers=own,
                                   json={"body": "x", "tags": ["ok", "a && || b"]})
    assert answer.status_code == 422
    assert (answer.json()["error"]["field"], answer.json()["error"]["message"][:11]) == (
        "body.tags[1]", "position 5:")
    answer = await api.client.post(f"{BASE}/projects/{shop.id}/notifications", headers=own,
                                   json={"body": "x", "custom_metrics": ["a", "b", "c", "d"]})
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "body.custom_metrics")
    answer = await api.client.post(f"{BASE}/senders", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                                   json={"name": "x", "vapid_private_key": "not a key"})
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "body.vapid_private_key")


async def test_the_prefix_is_a_setting(make_api: MakeApi) -> None:
    moved = await make_api(pushpad_api_prefix="/compat/v1")
    shop = await moved.tenant("shop")
    assert (await moved.client.get("/compat/v1/projects", headers=shop.headers)).status_code == 200
    assert (await moved.client.get(f"{BASE}/projects", headers=shop.headers)).status_code == 404
    off = await make_api(pushpad_api_prefix=None)
    other = await off.tenant("other")
    assert (await off.client.get(f"{BASE}/projects", headers=other.headers)).status_code == 404


async def test_a_senders_private_key_is_sealed_at_rest(make_api: MakeApi) -> None:
    from sqlalchemy import select

    from pushgate.registry.pushpad_tables import PushpadSender

    api = await make_api(secret_key="a-secret-key-of-at-least-32-characters!")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    made = await api.client.post(f"{BASE}/senders", headers=admin, json={"name": "Main"})
    assert made.status_code == 201, made.text
    private = made.json()["vapid_private_key"]
    body = private.strip().splitlines()[1]
    with api.db.session(write=False) as session:
        stored = session.scalars(select(PushpadSender)).one().config
    assert body not in str(stored)
    shown = await api.client.get(f"{BASE}/senders/{made.json()['id']}", headers=admin)
    assert shown.json()["vapid_private_key"] == private
