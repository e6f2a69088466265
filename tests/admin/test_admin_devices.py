"""Devices pages: search filters, detail and history, (de)activation, deletion, test sends, pruning."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from pushgate.registry import (
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    Send,
    Target,
    create_send,
    get_device,
    record_outcomes,
    register_device,
)
from pushgate.registry.models import Device, utcnow
from tests.admin.conftest import AdminUi
from tests.server.api_helpers import apns_token, fcm_token


def _seed(ui: AdminUi, app_id: int) -> dict[str, int]:
    with ui.db.session() as session:
        ids = {
            "ios": register_device(
                session, app_id, DeviceSpec("apns", apns_token(1), user="alice", platform="ios", tags=["vip"])
            ).id,
            "android": register_device(
                session, app_id, DeviceSpec("fcm", fcm_token(2), user="bob", platform="android")
            ).id,
            "old": register_device(session, app_id, DeviceSpec("fcm", fcm_token(3), user="carol")).id,
        }
        session.execute(
            update(Device)
            .where(Device.id == ids["old"])
            .values(
                last_seen_at=utcnow() - timedelta(days=90),
                active=False,
                unregistered_at=utcnow() - timedelta(days=60),
            )
        )
    return ids


def _rows(html: str) -> int:
    return html.count('name="device" value=')


async def test_search_filters(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    ids = _seed(ui, app_id)
    browser = await ui.signed_in("root", superuser=True)
    path = f"/admin/apps/{app_id}/devices"
    assert _rows((await browser.get(path)).text) == 3
    cases = [
        ({"provider": "fcm"}, {"android", "old"}),
        ({"platform": "ios"}, {"ios"}),
        ({"user": "bob"}, {"android"}),
        ({"tag": "vip"}, {"ios"}),
        ({"active": "no"}, {"old"}),
        ({"active": "yes"}, {"ios", "android"}),
        ({"token": apns_token(1)[:10]}, {"ios"}),
        ({"token": "fcm-registration-token-0000"}, {"android", "old"}),
        ({"seen_before": (utcnow() - timedelta(days=30)).strftime("%Y-%m-%d")}, {"old"}),
        ({"seen_after": (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d")}, {"ios", "android"}),
    ]
    for params, expected in cases:
        page = await browser.get(path, **params)
        assert page.status_code == 200, params
        shown = {name for name, device_id in ids.items() if f'value="{device_id}"' in page.text}
        assert shown == expected, params
    bad = await browser.get(path, seen_before="yesterday")
    assert bad.status_code == 422
    assert "seen_before: a date as YYYY-MM-DD" in bad.text


async def test_detail_shows_the_delivery_history(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    ids = _seed(ui, app_id)
    with ui.db.session() as session:
        send = create_send(session, app_id, {"title": "hi"}, {"all": True})
        send.targeted = 1
        record_outcomes(session, send.id, "apns", [Outcome(ids["ios"], DeliveryStatus.FAILED, "BadTopic")])
    browser = await ui.signed_in("root", superuser=True)
    page = await browser.get(f"/admin/apps/{app_id}/devices/{ids['ios']}")
    assert page.status_code == 200
    assert apns_token(1) in page.text
    assert "BadTopic" in page.text
    assert send.id[:8] in page.text


async def test_deactivate_reactivate_delete(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    ids = _seed(ui, app_id)
    browser = await ui.signed_in("root", superuser=True)
    action = f"/admin/apps/{app_id}/devices/{ids['ios']}/action"
    assert (await browser.post(action, {"action": "deactivate"})).status_code == 303
    with ui.db.session(write=False) as session:
        device = get_device(session, app_id, ids["ios"])
        assert device is not None
        assert not device.active
        assert device.inactive_reason == "DeactivatedByApp"
    assert (await browser.post(action, {"action": "reactivate"})).status_code == 303
    with ui.db.session(write=False) as session:
        device = get_device(session, app_id, ids["ios"])
        assert device is not None
        assert device.active
    bulk = await browser.post(
        f"/admin/apps/{app_id}/devices/bulk",
        {"device": [str(ids["ios"]), str(ids["android"])], "action": "delete"},
    )
    assert bulk.status_code == 303
    assert bulk.headers["location"].endswith("deleted=2")
    with ui.db.session(write=False) as session:
        assert get_device(session, app_id, ids["ios"]) is None
        assert get_device(session, app_id, ids["android"]) is None


async def test_test_sends_go_through_the_send_path(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    ids = _seed(ui, app_id)
    browser = await ui.signed_in("root", superuser=True)
    one = await browser.post(f"/admin/apps/{app_id}/devices/{ids['ios']}/action", {"action": "test"})
    assert one.status_code == 303
    send_id = one.headers["location"].split("test_send=")[1]
    many = await browser.post(
        f"/admin/apps/{app_id}/devices/bulk",
        {"device": [str(ids["ios"]), str(ids["android"])], "action": "test"},
    )
    assert many.status_code == 303
    bulk_id = many.headers["location"].rsplit("/", 1)[1]
    with ui.db.session(write=False) as session:
        single, bulk = session.get(Send, send_id), session.get(Send, bulk_id)
        assert single is not None
        assert bulk is not None
        assert Target.parse(single.target).values == (ids["ios"],)
        assert Target.parse(bulk.target).values == (ids["ios"], ids["android"])
        assert single.notification["title"] == "Test from pushgate"
        assert single.audience == 1
        assert bulk.audience == 2
    # Sends to named devices are fanned out with the send (docs/scale-out.md §2 "Lanes"): their
    # delivery jobs are on the direct lanes, and the in-process workers were woken for those.
    assert ui.enqueued == ["deliver:apns:direct", "deliver:apns:direct", "deliver:fcm:direct"]
    page = await browser.get(f"/admin/apps/{app_id}/sends/{bulk_id}")
    assert page.status_code == 200
    assert 'id="counter-targeted"' in page.text


async def test_prune_deletes_only_devices_dead_long_enough(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    ids = _seed(ui, app_id)
    browser = await ui.signed_in("root", superuser=True)
    kept = await browser.post(f"/admin/apps/{app_id}/devices/prune", {"days": "90"})
    assert kept.headers["location"].endswith("pruned=0")
    pruned = await browser.post(f"/admin/apps/{app_id}/devices/prune", {"days": "30"})
    assert pruned.headers["location"].endswith("pruned=1")
    with ui.db.session(write=False) as session:
        assert get_device(session, app_id, ids["old"]) is None
        assert get_device(session, app_id, ids["ios"]) is not None
    page = await browser.get(pruned.headers["location"])
    assert "Pruned: 1 device(s)." in page.text
    bad = await browser.post(f"/admin/apps/{app_id}/devices/prune", {"days": "-1"})
    assert bad.status_code == 422
    assert "days:" in bad.text


async def test_a_device_file_is_imported_with_row_errors(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    browser = await ui.signed_in("root", superuser=True)
    csv_text = f"provider,token,user,tags\napns,{apns_token(5)},dora,beta;vip\nfcm,,erin,\n"
    answer = await browser.post(
        f"/admin/apps/{app_id}/devices/import",
        files={"devices_file": ("devices.csv", csv_text.encode(), "text/csv")},
    )
    assert answer.status_code == 200
    assert "1 created, 0 updated, 1 refused." in answer.text
    page = await browser.get(f"/admin/apps/{app_id}/devices", tag="vip")
    assert apns_token(5)[:24] in page.text
    missing = await browser.post(f"/admin/apps/{app_id}/devices/import")
    assert missing.status_code == 422
