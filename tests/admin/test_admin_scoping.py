"""Per-app scoping: an admin of app A cannot reach app B's pages or change its data by editing a URL."""

from __future__ import annotations

import pytest

from pushgate.registry import DeviceSpec, create_send, get_device, list_api_keys, register_device
from tests.admin.admin_helpers import Browser
from tests.admin.conftest import AdminUi
from tests.server.api_helpers import apns_token


def _device(ui: AdminUi, app_id: int, i: int) -> int:
    with ui.db.session() as session:
        return register_device(session, app_id, DeviceSpec("apns", apns_token(i), user=f"u{i}")).id


def _send(ui: AdminUi, app_id: int) -> str:
    with ui.db.session() as session:
        return create_send(session, app_id, {"title": "hi"}, {"all": True}).id


@pytest.fixture
async def two_apps(ui: AdminUi) -> tuple[int, int, Browser]:
    """Apps "a" and "b", and a browser signed in as an admin granted only "a"."""
    a, _ = ui.create_app("a")
    b, _ = ui.create_app("b")
    return a, b, await ui.signed_in("only-a", apps=(a,))


async def test_an_app_admin_sees_only_the_granted_app(
    ui: AdminUi, two_apps: tuple[int, int, Browser]
) -> None:
    a, b, browser = two_apps
    listing = await browser.get("/admin/apps")
    assert f'href="/admin/apps/{a}"' in listing.text
    assert f'href="/admin/apps/{b}"' not in listing.text
    assert "Create an app" not in listing.text  # superusers only
    refused = await browser.post("/admin/apps", {"name": "mine"})
    assert refused.status_code == 403


async def test_another_apps_pages_are_not_found(ui: AdminUi, two_apps: tuple[int, int, Browser]) -> None:
    a, b, browser = two_apps
    device_b = _device(ui, b, 1)
    send_b = _send(ui, b)
    for path in (
        f"/admin/apps/{b}",
        f"/admin/apps/{b}/devices",
        f"/admin/apps/{b}/devices/{device_b}",
        f"/admin/apps/{b}/compose",
        f"/admin/apps/{b}/sends",
        f"/admin/apps/{b}/sends/{send_b}",
        f"/admin/apps/{b}/sends/{send_b}/status.json",
        # B's device and send under A's own URL: still not found.
        f"/admin/apps/{a}/devices/{device_b}",
        f"/admin/apps/{a}/sends/{send_b}",
        f"/admin/apps/{a}/sends/{send_b}/status.json",
        f"/admin/apps/{a}/sends/{send_b}/deliveries/{device_b}",
        f"/admin/apps/{b}/sends/{send_b}/deliveries/{device_b}",
        "/admin/apps/999999",
    ):
        answer = await browser.get(path)
        assert answer.status_code == 404, path
        assert "text/html" in answer.headers["content-type"]


async def test_another_apps_data_cannot_be_changed(ui: AdminUi, two_apps: tuple[int, int, Browser]) -> None:
    a, b, browser = two_apps
    device_b = _device(ui, b, 2)
    send_b = _send(ui, b)
    with ui.db.session(write=False) as session:
        key_b = list_api_keys(session, b)[0].id
    posts = [
        (f"/admin/apps/{b}/keys", {"name": "x"}),
        (f"/admin/apps/{b}/keys/{key_b}/revoke", {}),
        (f"/admin/apps/{a}/keys/{key_b}/revoke", {}),  # B's key through A's URL
        (f"/admin/apps/{a}/keys/{key_b}/rotate", {}),
        (f"/admin/apps/{b}/credentials/wns", {"client_id": "x", "client_secret": "y"}),
        (f"/admin/apps/{b}/vapid", {"vapid_subject": "mailto:a@example.com"}),
        (f"/admin/apps/{b}/devices/{device_b}/action", {"action": "deactivate"}),
        (f"/admin/apps/{a}/devices/{device_b}/action", {"action": "delete"}),
        (f"/admin/apps/{b}/devices/prune", {"days": "1"}),
        (
            f"/admin/apps/{b}/compose",
            {"title": "hi", "audience": "all", "action": "send", "confirmed": "yes"},
        ),
        (f"/admin/apps/{b}/preview", {"title": "hi"}),
        (f"/admin/apps/{b}/sends/{send_b}/cancel", {}),
        (f"/admin/apps/{a}/sends/{send_b}/cancel", {}),
    ]
    for path, data in posts:
        answer = await browser.post(path, data)
        assert answer.status_code == 404, (path, answer.status_code)
    # A bulk action on A's page naming B's device changes nothing of B's.
    bulk = await browser.post(
        f"/admin/apps/{a}/devices/bulk", {"device": [str(device_b)], "action": "deactivate"}
    )
    assert bulk.status_code == 303
    with ui.db.session(write=False) as session:
        device = get_device(session, b, device_b)
        assert device is not None
        assert device.active
        keys = list_api_keys(session, b)
        assert len(keys) == 1
        assert keys[0].revoked_at is None


async def test_a_superuser_sees_every_app(ui: AdminUi) -> None:
    a, _ = ui.create_app("a")
    b, _ = ui.create_app("b")
    browser = await ui.signed_in("root", superuser=True)
    listing = await browser.get("/admin/apps")
    assert f'href="/admin/apps/{a}"' in listing.text
    assert f'href="/admin/apps/{b}"' in listing.text
    assert (await browser.get(f"/admin/apps/{b}/devices")).status_code == 200


async def test_ids_beyond_any_row_are_not_found(ui: AdminUi, shop: tuple[int, str]) -> None:
    browser = await ui.signed_in("root", superuser=True)
    huge = 2**70
    for path in (f"/admin/apps/{huge}", f"/admin/apps/{shop[0]}/devices/{huge}", "/admin/apps/0/sends"):
        answer = await browser.get(path)
        assert answer.status_code == 404, path
    bad_cursor = await browser.get(f"/admin/apps/{shop[0]}/sends", cursor="not-a-cursor")
    assert bad_cursor.status_code == 422
    assert "cursor" in bad_cursor.text
