"""Sends: the list's counters, a send's outcomes by reason, its chart, deliveries, status and cancel."""

from __future__ import annotations

import re
from datetime import timedelta

from pushgate.registry import (
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    create_send,
    record_outcomes,
    register_device,
)
from pushgate.registry.models import Send, utcnow
from tests.admin.conftest import AdminUi
from tests.server.api_helpers import apns_token


def _send_with_outcomes(ui: AdminUi, app_id: int) -> tuple[str, list[int]]:
    now = utcnow()
    with ui.db.session() as session:
        ids = [register_device(session, app_id, DeviceSpec("apns", apns_token(i))).id for i in range(6)]
        send = create_send(session, app_id, {"title": "Sale"}, {"all": True}, audience=7)
        send.targeted = 7
        send.status = "sending"
        record_outcomes(
            session,
            send.id,
            "apns",
            [
                Outcome(ids[0], DeliveryStatus.SENT, message_id="m0"),
                Outcome(ids[1], DeliveryStatus.SENT, message_id="m1"),
            ],
            now=now - timedelta(seconds=30),
        )
        record_outcomes(
            session,
            send.id,
            "apns",
            [
                Outcome(ids[2], DeliveryStatus.DEAD, "Unregistered"),
                Outcome(ids[3], DeliveryStatus.DEAD, "Unregistered"),
                Outcome(ids[4], DeliveryStatus.FAILED, "BadDeviceToken"),
            ],
            now=now,
        )
        return send.id, ids


async def test_the_list_shows_counters_and_status(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    send_id, _ = _send_with_outcomes(ui, app_id)
    browser = await ui.signed_in("root", superuser=True)
    page = await browser.get(f"/admin/apps/{app_id}/sends")
    row = re.search(rf"{send_id[:8]}</code></a></td>(.*?)</tr>", page.text, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([\d,]+)</td>', row.group(1))
    assert cells == ["7", "2", "1", "2", "0", "0", "2"]  # targeted sent failed dead expired cancelled pending
    assert "sending" in row.group(1)
    filtered = await browser.get(f"/admin/apps/{app_id}/sends", status="done")
    assert send_id[:8] not in filtered.text


async def test_a_sends_page_breaks_outcomes_down(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    send_id, ids = _send_with_outcomes(ui, app_id)
    browser = await ui.signed_in("root", superuser=True)
    page = await browser.get(f"/admin/apps/{app_id}/sends/{send_id}")
    assert page.status_code == 200
    reasons = re.findall(
        r'delivery_status=(\w+)#deliveries">\w+</a></td><td>([^<]+)</td><td class="num">(\d+)', page.text
    )
    assert reasons == [("dead", "Unregistered", "2"), ("sent", "—", "2"), ("failed", "BadDeviceToken", "1")]
    assert '<svg class="chart"' in page.text
    assert "5 outcomes recorded between" in page.text
    assert page.text.count("<rect ") >= 2  # two moments, 30 s apart
    assert 'id="counter-pending" data-field="pending">2<' in page.text
    dead = await browser.get(f"/admin/apps/{app_id}/sends/{send_id}", delivery_status="dead")
    shown = set(re.findall(r'/devices/(\d+)">', dead.text))
    assert shown == {str(ids[2]), str(ids[3])}
    detail = await browser.get(f"/admin/apps/{app_id}/sends/{send_id}/deliveries/{ids[4]}")
    assert detail.status_code == 200
    assert "BadDeviceToken" in detail.text
    assert f'/devices/{ids[4]}">{ids[4]}</a>' in detail.text
    none = await browser.get(f"/admin/apps/{app_id}/sends/{send_id}/deliveries/{ids[5]}")
    assert none.status_code == 404  # no outcome recorded for it yet
    status = await browser.get(f"/admin/apps/{app_id}/sends/{send_id}/status.json")
    assert status.json()["dead"] == 2
    assert status.json()["running"] is True


async def test_cancel_ends_the_rest_cancelled(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    send_id, _ = _send_with_outcomes(ui, app_id)
    browser = await ui.signed_in("root", superuser=True)
    cancelled = await browser.post(f"/admin/apps/{app_id}/sends/{send_id}/cancel")
    assert cancelled.status_code == 303
    with ui.db.session(write=False) as session:
        send = session.get(Send, send_id)
        assert send is not None
        assert send.status == "cancelled"
    page = await browser.get(cancelled.headers["location"])
    assert "The send was cancelled." in page.text
    assert "Cancel this send" not in page.text
    again = await browser.post(f"/admin/apps/{app_id}/sends/{send_id}/cancel")
    assert again.status_code == 303  # as the API: cancelling a cancelled send changes nothing
    with ui.db.session() as session:
        finished = create_send(session, app_id, {"title": "Old"}, {"all": True})
        finished.status = "done"
        finished_id = finished.id
    refused = await browser.post(f"/admin/apps/{app_id}/sends/{finished_id}/cancel")
    assert refused.status_code == 409
    assert "only unfinished sends can be cancelled" in refused.text
