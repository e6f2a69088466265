"""Pushpad's own Python client (pushpad 2.x from PyPI) against a running pushgate, every call it offers.

A Pushpad user changes nothing but ``base_url``: the client authenticates
with ``Authorization: Bearer <token>`` (the server's admin token acting as
the account, or an app's API key limited to its project), and every
resource — senders, projects, subscriptions, notifications — goes over real
HTTP to a ``pushgate serve`` process, whose workers deliver through the Web
Push simulator; what the browser would receive is read back from it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pushpad
import pytest
from cryptography.hazmat.primitives import serialization

from pushgate.crypto.vapid import VapidKey, b64url_encode
from pushgate.simulators.webpush import WebPushSimulator
from pushgate.uid_signature import signature_for, verify_signature
from tests.e2e.e2e_helpers import ADMIN_TOKEN, StartServer, StartSimulators, sim_of, wait_for

call = asyncio.to_thread  # the client is blocking; the simulator runs on this test's event loop


def application_server_key(public_pem: str) -> str:
    """The browser's applicationServerKey (base64url of the uncompressed point) from a PEM public key."""
    key = serialization.load_pem_public_key(public_pem.encode())
    return b64url_encode(key.public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint))


async def issue_key(server_url: str, app_id: int) -> str:
    async with httpx.AsyncClient(base_url=server_url) as http:
        answer = await http.post(f"/v1/apps/{app_id}/keys", json={"name": "pushpad"},
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


async def test_every_pushpad_client_call(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer
) -> None:
    sims = await start_simulators(("webpush",))
    web = sim_of(sims, "webpush", WebPushSimulator)
    server = await start_server(database_url, sims)
    assert server.url is not None
    base_url = f"{server.url}/pushpad/api/v1"
    account = pushpad.Pushpad(auth_token=ADMIN_TOKEN, base_url=base_url)

    # Senders: a generated pair, and an imported one (PEM, as Pushpad shows them).
    sender = await call(account.senders.create, name="Main sender")
    assert "BEGIN PRIVATE KEY" in sender.vapid_private_key
    assert "BEGIN PUBLIC KEY" in sender.vapid_public_key
    imported_key = VapidKey.generate()
    public_pem = imported_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    imported = await call(account.senders.create, name="Imported",
                          vapid_private_key=imported_key.private_pem().decode(), vapid_public_key=public_pem)
    assert imported.vapid_public_key.split() == public_pem.split()
    assert {s.id for s in await call(account.senders.all)} == {sender.id, imported.id}
    assert (await call(account.senders.update, imported.id, name="Renamed")).name == "Renamed"
    assert (await call(account.senders.get, imported.id)).name == "Renamed"
    await call(account.senders.delete, imported.id)
    with pytest.raises(pushpad.PushpadAPIError) as missing:
        await call(account.senders.get, imported.id)
    assert missing.value.status_code == 404

    # Projects: a pushgate app each.
    project = await call(account.projects.create, sender_id=sender.id, name="Shop", website="https://shop.example",
                         icon_url="https://shop.example/icon.png", badge_url="https://shop.example/badge.png",
                         notifications_ttl=3600, notifications_require_interaction=True,
                         notifications_silent=False)
    assert (project.name, project.website, project.sender_id, project.notifications_ttl) == (
        "Shop", "https://shop.example", sender.id, 3600)
    spare = await call(account.projects.create, sender_id=sender.id, name="Spare", website="https://spare.example")
    assert {p.id for p in await call(account.projects.all)} >= {project.id, spare.id}
    renamed = await call(account.projects.update, project.id, name="The Shop")
    assert (renamed.name, renamed.icon_url, renamed.badge_url) == (
        "The Shop", "https://shop.example/icon.png", "https://shop.example/badge.png")
    assert (await call(account.projects.get, project.id)).notifications_require_interaction is True
    await call(account.projects.delete, spare.id)
    with pytest.raises(pushpad.PushpadAPIError):
        await call(account.projects.get, spare.id)

    # The project's own key, as a Pushpad user holds one; account calls are refused to it.
    key = await issue_key(server.url, project.id)
    client = pushpad.Pushpad(auth_token=key, project_id=project.id, base_url=base_url)
    with pytest.raises(pushpad.PushpadAPIError) as refused:
        await call(client.senders.all)
    assert refused.value.status_code == 403
    assert [p.id for p in await call(client.projects.all)] == [project.id]

    # Subscriptions: browsers subscribed with the sender's key, imported through the API.
    browsers = [web.subscribe(application_server_key(sender.vapid_public_key)) for _ in range(4)]
    people: list[tuple[str | None, list[str]]] = [
        ("user1", ["sports", "travel"]), ("user1", ["sports"]), ("user2", ["travel"]), (None, ["sports"])]
    created = []
    for browser, (uid, tags) in zip(browsers, people, strict=True):
        keys = browser["keys"]
        created.append(await call(client.subscriptions.create, endpoint=browser["endpoint"], uid=uid,
                                  tags=tags, p256dh=keys["p256dh"], auth=keys["auth"]))
    assert (created[0].uid, created[0].tags, created[0].endpoint) == ("user1", ["sports", "travel"],
                                                                       browsers[0]["endpoint"])
    assert await call(client.subscriptions.count) == 4
    assert await call(client.subscriptions.count, uids=["user1"]) == 2
    assert await call(client.subscriptions.count, tags=["sports"]) == 3
    assert await call(client.subscriptions.count, tags=["sports && travel"]) == 1
    assert await call(client.subscriptions.count, uids=["user1"], tags=["sports && !travel"]) == 1
    first_user = await call(client.subscriptions.all, uids=["user1"])
    assert [s.id for s in first_user] == [created[0].id, created[1].id]
    second = await call(client.subscriptions.all, page=2, per_page=3)
    assert [s.id for s in second] == [created[3].id]
    fetched = await call(client.subscriptions.get, created[2].id)
    assert (fetched.uid, fetched.p256dh) == ("user2", browsers[2]["keys"]["p256dh"])
    changed = await call(client.subscriptions.update, created[3].id, uid="user3", tags=["sports", "vip"])
    assert (changed.uid, changed.tags) == ("user3", ["sports", "vip"])
    with pytest.raises(pushpad.PushpadAPIError) as bad:
        await call(client.subscriptions.all, tags=["sports &&"])
    assert bad.value.status_code == 422
    assert "position" in (bad.value.response_body or "")

    # Notifications: deliver_to users with tags, with every field the client sends.
    result = await call(
        client.notifications.create, body="Hello world!", title="Website Name",
        target_url="https://shop.example/x", icon_url="https://shop.example/i.png",
        badge_url="https://shop.example/b.png", image_url="https://shop.example/img.png", ttl=604800,
        require_interaction=True, silent=True, urgent=True,
        custom_data="123", actions=[{"title": "My Button 1", "target_url": "https://shop.example/button",
                                     "icon": "https://shop.example/button.png", "action": "myActionName"}],
        starred=True, custom_metrics=["examples", "another_metric"], uids=["user1", "user2", "ghost"],
        tags=["sports"],
    )
    assert (result.uids, result.scheduled, result.send_at) == (["user1"], 2, None)
    sent = await wait_for(lambda: call(client.notifications.get, result.id),
                          lambda n: n.successfully_sent_count == 2, 60, "deliveries were not recorded")
    assert (sent.title, sent.target_url, sent.badge_url, sent.urgent, sent.silent, sent.starred) == (
        "Website Name", "https://shop.example/x", "https://shop.example/b.png", True, True, True)
    assert (sent.uids, sent.tags, sent.custom_metrics, sent.scheduled_count) == (
        ["user1", "user2", "ghost"], ["sports"], ["examples", "another_metric"], 2)
    received = web.inbox(browsers[0]["endpoint"])[-1]
    assert received["urgency"] == "high"
    assert_payload(received["payload"])
    assert web.inbox(browsers[2]["endpoint"]) == []  # user2 has no "sports" device

    # Broadcast to an expression; then everyone, where the project's defaults fill the gaps.
    segment = await call(client.notifications.create, body="Segment", tags=["sports && travel", "vip"])
    assert (segment.scheduled, segment.uids) == (2, None)
    everyone = await call(client.notifications.send, body="Everyone")
    assert everyone.scheduled == 4
    await wait_for(lambda: call(client.notifications.get, everyone.id),
                   lambda n: n.successfully_sent_count == 4, 60, "the broadcast was not delivered")
    defaults = web.inbox(browsers[2]["endpoint"])[-1]["payload"]
    assert (defaults["icon"], defaults["badge"], defaults["url"], defaults["require_interaction"]) == (
        "https://shop.example/icon.png", "https://shop.example/badge.png", "https://shop.example", True)

    # A scheduled notification answers send_at and no reach; it can be cancelled.
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    scheduled = await call(client.notifications.create, body="Later", send_at=later.isoformat(),
                           uids=["user1"])
    assert (scheduled.scheduled, scheduled.uids, scheduled.send_at) == (
        None, None, later.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    assert (await call(client.notifications.get, scheduled.id)).scheduled is True
    await call(client.notifications.cancel, scheduled.id)
    assert (await call(client.notifications.get, scheduled.id)).cancelled is True
    listed = await call(client.notifications.all, page=1)
    assert [n.id for n in listed] == [scheduled.id, everyone.id, segment.id, result.id]
    assert await call(client.notifications.all, page=2) == []

    # Signed uids: the client's helper is pushgate's (keyed with the token it holds).
    assert client.signature_for("user1") == signature_for(key, "user1")
    assert verify_signature(key, "user1", client.signature_for("user1"))

    await call(client.subscriptions.delete, created[1].id)
    assert await call(client.subscriptions.count, uids=["user1"]) == 1
    with pytest.raises(pushpad.PushpadAPIError):
        await call(client.subscriptions.get, created[1].id)
    client.close()
    account.close()


def assert_payload(payload: dict[str, Any]) -> None:
    """The Web Push JSON carries every Pushpad field under the keys the service worker reads."""
    assert payload == {
        "title": "Website Name", "body": "Hello world!", "url": "https://shop.example/x",
        "icon": "https://shop.example/i.png", "badge": "https://shop.example/b.png",
        "image": "https://shop.example/img.png", "require_interaction": True, "starred": True,
        "custom_data": "123", "custom_metrics": ["examples", "another_metric"], "silent": True,
        "actions": [{"action": "myActionName", "title": "My Button 1", "icon": "https://shop.example/button.png",
                     "url": "https://shop.example/button"}],
        "tag": payload["tag"],  # the send's dedupe id (docs/architecture.md §5)
        "pushgate": {"send": payload["pushgate"]["send"]},  # named by the SW's reports (docs/websdk.md)
    }
    assert len(payload["pushgate"]["send"]) == 36
