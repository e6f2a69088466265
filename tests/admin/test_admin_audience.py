"""Compose's tag expressions: the live audience count (``audience.json``) and the send it makes."""

from __future__ import annotations

import pytest

from pushgate.registry import DeviceSpec, Send, Target, register_device
from pushgate.registry.audience import measure_audience
from tests.admin.admin_helpers import Browser
from tests.admin.conftest import AdminUi
from tests.server.api_helpers import apns_token, fcm_token


@pytest.fixture
async def tagged(ui: AdminUi, shop: tuple[int, str]) -> tuple[int, Browser]:
    """u1: two devices (one "events"); u2: one "events" + "vip"; one anonymous "zip_code:28865" device."""
    app_id = shop[0]
    with ui.db.session() as session:
        for spec in (DeviceSpec("fcm", fcm_token(1), user="u1", tags=["events"]),
                     DeviceSpec("fcm", fcm_token(2), user="u1"),
                     DeviceSpec("apns", apns_token(3), user="u2", tags=["events", "vip"]),
                     DeviceSpec("fcm", fcm_token(4), tags=["zip_code:28865"])):
            register_device(session, app_id, spec)
    return app_id, await ui.signed_in("root", superuser=True)


async def test_the_count_follows_the_expression(ui: AdminUi, tagged: tuple[int, Browser]) -> None:
    app_id, browser = tagged
    url = f"/admin/apps/{app_id}/audience.json"
    for expression, devices, users in (("events", 2, 2), ("events && !vip", 1, 1),
                                       ("events || zip_code:28865", 3, 2), ("!events", 2, 1),
                                       ("events, zip_code:28865", 3, 2), ("nobody", 0, 0)):
        answer = await browser.get(url, tags=expression)
        assert answer.status_code == 200, (expression, answer.text)
        assert answer.json() == {"devices": devices, "users": users}, expression
        assert answer.headers["cache-control"] == "no-store"
    # The same numbers as POST /v1/audience's query for the same target.
    with ui.db.session(write=False) as session:
        counted = measure_audience(session, app_id, Target.parse({"all": True, "tags": "events && !vip"}))
    assert (counted.devices, counted.users) == (1, 1)
    narrowed = await browser.client.get(url, params={"tags": "events", "providers": ["apns"]})
    assert narrowed.json() == {"devices": 1, "users": 1}


async def test_a_malformed_expression_answers_its_position(tagged: tuple[int, Browser]) -> None:
    app_id, browser = tagged
    answer = await browser.get(f"/admin/apps/{app_id}/audience.json", tags="events & vip")
    assert answer.status_code == 422
    refused = answer.json()
    assert refused["field"] == "target.tags"
    assert refused["position"] == 7  # the lone '&', 0-based
    assert refused["error"] == "target.tags: position 7: a single &; write &&"
    empty = await browser.get(f"/admin/apps/{app_id}/audience.json", tags="  ")
    assert empty.status_code == 422
    assert empty.json()["position"] is None


async def test_compose_sends_to_an_expression_and_shows_parse_errors(
    ui: AdminUi, tagged: tuple[int, Browser]
) -> None:
    app_id, browser = tagged
    page = await browser.get(f"/admin/apps/{app_id}/compose")
    assert f'data-count-url="/admin/apps/{app_id}/audience.json"' in page.text
    assert 'id="audience-count"' in page.text
    fields = {"title": "Sale", "audience": "tags", "audience_values": "events && !vip", "action": "send"}
    first = await browser.post(f"/admin/apps/{app_id}/compose", fields)
    assert "Send to 1 device?" in first.text
    confirmed = await browser.post(f"/admin/apps/{app_id}/compose", {**fields, "confirmed": "yes"})
    assert confirmed.status_code == 303
    with ui.db.session(write=False) as session:
        send = session.get(Send, confirmed.headers["location"].rsplit("/", 1)[1])
        assert send is not None
        assert send.target == {"all": True, "tags": ["events && !vip"]}
    bad = await browser.post(f"/admin/apps/{app_id}/compose", {**fields, "audience_values": "events &&"})
    assert bad.status_code == 422
    assert "target.tags: position 9: " in bad.text


async def test_another_apps_audience_is_not_found(ui: AdminUi, tagged: tuple[int, Browser]) -> None:
    other, _ = ui.create_app("other")
    browser = await ui.signed_in("only-other", apps=(other,))
    answer = await browser.get(f"/admin/apps/{tagged[0]}/audience.json", tags="events")
    assert answer.status_code == 404
    signed_out = await ui.open_browser()
    away = await signed_out.get(f"/admin/apps/{tagged[0]}/audience.json", tags="events")
    assert away.status_code == 303
    assert away.headers["location"].startswith("/admin/login")
