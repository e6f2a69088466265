"""Compose: per-provider preview from the payload builders, target forms, broadcast confirmation, send."""

from __future__ import annotations

import re

import pytest

from pushgate.registry import DeviceSpec, Send, register_device, set_credentials
from tests.admin.admin_helpers import Browser
from tests.admin.conftest import AdminUi
from tests.server.api_helpers import apns_token, fcm_token, make_secrets


@pytest.fixture
async def composer(ui: AdminUi, shop: tuple[int, str]) -> tuple[int, Browser]:
    app_id = shop[0]
    secrets = make_secrets()
    with ui.db.session() as session:
        for provider in ("apns", "fcm"):
            set_credentials(session, app_id, provider, secrets.for_provider(provider))
        for i in range(3):
            register_device(
                session, app_id, DeviceSpec("apns", apns_token(i), user=f"u{i}", tags=["beta"] if i else None)
            )
        register_device(session, app_id, DeviceSpec("fcm", fcm_token(9), user="u9"))
    return app_id, await ui.signed_in("root", superuser=True)


async def test_the_preview_shows_each_configured_providers_wire_payload(
    composer: tuple[int, Browser],
) -> None:
    app_id, browser = composer
    answer = await browser.post(
        f"/admin/apps/{app_id}/preview", {"title": "Shipped", "body": "Arrives Thursday", "badge": "3"}
    )
    assert answer.status_code == 200
    html = answer.text
    assert 'data-provider="apns"' in html
    assert 'data-provider="fcm"' in html
    assert 'data-provider="webpush"' not in html  # the app has no Web Push credentials
    apns = re.search(r'id="wire-apns">(.*?)</pre>', html, re.S)
    assert apns is not None
    assert "&#34;badge&#34;: 3" in apns.group(1)
    assert "Arrives Thursday" in apns.group(1)
    assert re.search(r'id="size-apns">\d+ of 4,096 bytes', html)
    assert "apns-topic: com.example.shop" in html  # the header the APNs builder makes from the topic
    assert "DEVICE_TOKEN" in html  # FCM's body, with the token's place shown
    assert '<div class="lk-title">Shipped</div>' in html  # the look-alike


async def test_a_payload_over_the_limit_is_shown_with_its_size(composer: tuple[int, Browser]) -> None:
    app_id, browser = composer
    answer = await browser.post(f"/admin/apps/{app_id}/preview", {"title": "Big", "body": "x" * 5000})
    assert re.search(r'id="size-apns">apns payload is \d+ bytes; the limit is 4096', answer.text)
    bad = await browser.post(f"/admin/apps/{app_id}/preview", {"title": "x", "badge": "many"})
    assert "notification.badge: a whole number" in bad.text
    data = await browser.post(f"/admin/apps/{app_id}/preview", {"title": "x", "data": "{not json"})
    assert "notification.data: not JSON" in data.text


async def test_sending_to_users_stores_the_send(ui: AdminUi, composer: tuple[int, Browser]) -> None:
    app_id, browser = composer
    answer = await browser.post(
        f"/admin/apps/{app_id}/compose",
        {
            "title": "Hello",
            "body": "there",
            "audience": "users",
            "audience_values": "u1, u2\nu9",
            "providers": ["apns"],
            "action": "send",
        },
    )
    assert answer.status_code == 303, answer.text
    send_id = answer.headers["location"].rsplit("/", 1)[1]
    with ui.db.session(write=False) as session:
        send = session.get(Send, send_id)
        assert send is not None
        assert send.target == {"users": ["u1", "u2", "u9"], "providers": ["apns"]}
        assert send.notification["title"] == "Hello"
        assert send.audience == 2


async def test_a_broadcast_asks_for_confirmation_with_the_audience(
    ui: AdminUi, composer: tuple[int, Browser]
) -> None:
    app_id, browser = composer
    fields = {"title": "Sale", "audience": "tags", "audience_values": "beta", "action": "send"}
    first = await browser.post(f"/admin/apps/{app_id}/compose", fields)
    assert first.status_code == 200
    assert "Send to 2 devices?" in first.text
    assert 'name="confirmed" value="yes"' in first.text
    with ui.db.session(write=False) as session:
        assert session.query(Send).count() == 0
    confirmed = await browser.post(f"/admin/apps/{app_id}/compose", {**fields, "confirmed": "yes"})
    assert confirmed.status_code == 303
    everyone = await browser.post(
        f"/admin/apps/{app_id}/compose", {"title": "All", "audience": "all", "action": "send"}
    )
    assert "Send to 4 devices?" in everyone.text


async def test_scheduling_and_refusals(ui: AdminUi, composer: tuple[int, Browser]) -> None:
    app_id, browser = composer
    scheduled = await browser.post(
        f"/admin/apps/{app_id}/compose",
        {
            "title": "Later",
            "audience": "tokens",
            "audience_values": apns_token(1),
            "send_at": "2099-01-02T03:04",
            "action": "send",
        },
    )
    assert scheduled.status_code == 303
    page = await browser.get(scheduled.headers["location"])
    assert "scheduled for 2099-01-02 03:04:00 UTC" in page.text
    empty = await browser.post(f"/admin/apps/{app_id}/compose", {"audience": "all", "action": "send"})
    assert empty.status_code == 422
    assert "an empty notification" in empty.text
    no_tokens = await browser.post(
        f"/admin/apps/{app_id}/compose", {"title": "x", "audience": "tokens", "action": "send"}
    )
    assert no_tokens.status_code == 422
    assert "target" in no_tokens.text
    too_big = await browser.post(
        f"/admin/apps/{app_id}/compose",
        {"title": "x", "body": "y" * 5000, "audience": "users", "audience_values": "u1", "action": "send"},
    )
    assert too_big.status_code == 422
    assert "the limit is 4096" in too_big.text
