"""Templates: the message catalog from the admin UI, through the catalog's own checks and preview."""

from __future__ import annotations

import re

import pytest

from pushgate.registry.catalog.messages import get_message
from tests.admin.admin_helpers import Browser
from tests.admin.conftest import AdminUi

NEW = {"name": "shipped", "events": "1001, 1002", "cooldown": "3600", "expiry": "86400",
       "screen": "orders/{order_id}", "priority": "high", "quiet_hours": "hold",
       "language": "en", "title": "Order {order_id} shipped", "body": "Arrives {day}"}


@pytest.fixture
async def editor(ui: AdminUi, shop: tuple[int, str]) -> tuple[int, Browser]:
    return shop[0], await ui.signed_in("root", superuser=True)


async def _create(browser: Browser, app_id: int, **changes: str) -> None:
    answer = await browser.post(f"/admin/apps/{app_id}/messages", {**NEW, **changes})
    assert answer.status_code == 303, answer.text
    name = changes.get("name", "shipped")
    assert answer.headers["location"] == f"/admin/apps/{app_id}/messages/{name}?saved=1"


async def test_a_message_is_created_listed_and_edited(ui: AdminUi, editor: tuple[int, Browser]) -> None:
    app_id, browser = editor
    empty = await browser.get(f"/admin/apps/{app_id}/messages")
    assert 'id="no-messages"' in empty.text
    assert f'href="/admin/apps/{app_id}/messages" aria-current="page">Templates' in empty.text
    await _create(browser, app_id)
    listing = await browser.get(f"/admin/apps/{app_id}/messages")
    row = re.search(r'<tr data-name="shipped">(.*?)</tr>', listing.text, re.S)
    assert row is not None
    assert "1001, 1002" in row.group(1)
    assert "3,600" in row.group(1)
    assert "hold" in row.group(1)
    edited = await browser.post(f"/admin/apps/{app_id}/messages/shipped", {
        "events": "1003", "cooldown": "0", "expiry": "", "screen": "", "priority": "",
        "quiet_hours": "drop", "extras": '{"sound": "chime.caf"}'})
    assert edited.status_code == 303
    page = await browser.get(edited.headers["location"])
    assert "Saved the message." in page.text
    assert 'value="1003"' in page.text
    with ui.db.session(write=False) as session:
        view = get_message(session, app_id, "shipped")
    assert view is not None
    assert view.fields.events == (1003,)
    assert view.fields.expiry is None
    assert view.fields.quiet_hours == "drop"
    assert dict(view.fields.extras) == {"sound": "chime.caf"}
    assert view.localizations["en"].title == "Order {order_id} shipped"  # editing keeps localizations


async def test_localizations_are_added_changed_and_deleted(
    ui: AdminUi, editor: tuple[int, Browser]
) -> None:
    app_id, browser = editor
    await _create(browser, app_id)
    base = f"/admin/apps/{app_id}/messages/shipped"
    french = {"language": "fr", "title": "Commande {order_id} expédiée", "body": "Le {day}"}
    added = await browser.post(f"{base}/localizations", french)
    assert added.status_code == 303
    assert added.headers["location"] == f"{base}?localized=fr"
    english = {"language": "en", "title": "Sent: {order_id}", "body": ""}
    changed = await browser.post(f"{base}/localizations", english)
    assert changed.status_code == 303
    page = await browser.get(base)
    assert 'id="loc-fr"' in page.text
    assert "Commande {order_id} expédiée" in page.text
    deleted = await browser.post(f"{base}/localizations/fr/delete")
    assert deleted.status_code == 303
    with ui.db.session(write=False) as session:
        view = get_message(session, app_id, "shipped")
    assert view is not None
    assert sorted(view.localizations) == ["en"]
    assert view.localizations["en"].title == "Sent: {order_id}"
    again = await browser.post(f"{base}/localizations/fr/delete")
    assert again.status_code == 404


async def test_a_bad_placeholder_is_refused_naming_the_field(
    ui: AdminUi, editor: tuple[int, Browser]
) -> None:
    app_id, browser = editor
    refused = await browser.post(f"/admin/apps/{app_id}/messages", {**NEW, "body": "Arrives {day"})
    assert refused.status_code == 422
    error = re.search(r'id="message-error">(.*?)</p>', refused.text)
    assert error is not None
    assert error.group(1).startswith("localizations.en.body: ")
    assert "not closed" in error.group(1)
    assert 'value="shipped"' in refused.text  # the form keeps what was typed
    await _create(browser, app_id)
    base = f"/admin/apps/{app_id}/messages/shipped"
    german = {"language": "de", "title": "Bestellung {order-id}", "body": ""}
    bad = await browser.post(f"{base}/localizations", german)
    assert bad.status_code == 422
    error = re.search(r'id="localization-error">(.*?)</p>', bad.text)
    assert error is not None
    assert error.group(1).startswith("localization.title: {order-id} is not a parameter")
    assert 'value="Bestellung {order-id}"' in bad.text
    reserved = await browser.post(base, {"events": "4001"})
    assert reserved.status_code == 422
    assert "events[0]: 4001 is reserved" in reserved.text
    not_number = await browser.post(base, {"events": "1001", "cooldown": "soon"})
    assert "cooldown: whole seconds" in not_number.text
    with ui.db.session(write=False) as session:
        view = get_message(session, app_id, "shipped")
    assert view is not None
    assert "de" not in view.localizations
    assert view.fields.events == (1001, 1002)
    duplicate = await browser.post(f"/admin/apps/{app_id}/messages", NEW)
    assert duplicate.status_code == 422
    assert "name: a message named &#39;shipped&#39; exists" in duplicate.text


async def test_the_preview_renders_the_locales_language_per_provider(editor: tuple[int, Browser]) -> None:
    app_id, browser = editor
    await _create(browser, app_id)
    base = f"/admin/apps/{app_id}/messages/shipped"
    await browser.post(f"{base}/localizations", {"language": "fr", "title": "Commande {order_id} expédiée",
                                                  "body": "Arrive {day}"})
    shown = await browser.post(f"{base}/preview", {"locale": "fr-CA", "params": "order_id=A-17\nday=jeudi"})
    assert shown.status_code == 200
    assert '<strong id="preview-language">fr</strong>' in shown.text
    assert '<div class="lk-title" id="preview-title">Commande A-17 expédiée</div>' in shown.text
    assert '<div class="lk-body" id="preview-body">Arrive jeudi</div>' in shown.text
    for provider in ("apns", "fcm", "webpush", "wns"):  # no credentials yet: every provider
        assert f'data-provider="{provider}"' in shown.text
    assert re.search(r'id="msize-apns">\d+ of 4,096 bytes', shown.text)
    wire = re.search(r'id="mwire-fcm">(.*?)</pre>', shown.text, re.S)
    assert wire is not None
    assert "Commande A-17 expédiée" in wire.group(1)
    missing = await browser.post(f"{base}/preview", {"locale": "fr-CA", "params": "order_id=A-17"})
    assert missing.status_code == 422
    assert "params.day: missing" in missing.text
    english = await browser.post(f"{base}/preview", {"locale": "de", "params": "order_id=1\nday=Monday"})
    assert '<div class="lk-title" id="preview-title">Order 1 shipped</div>' in english.text


async def test_a_message_is_deleted(ui: AdminUi, editor: tuple[int, Browser]) -> None:
    app_id, browser = editor
    await _create(browser, app_id)
    answer = await browser.post(f"/admin/apps/{app_id}/messages/shipped/delete")
    assert answer.status_code == 303
    assert "Deleted the message shipped." in (await browser.get(answer.headers["location"])).text
    with ui.db.session(write=False) as session:
        assert get_message(session, app_id, "shipped") is None
    assert (await browser.get(f"/admin/apps/{app_id}/messages/shipped")).status_code == 404


async def test_another_apps_messages_cannot_be_seen_or_changed(ui: AdminUi) -> None:
    a, _ = ui.create_app("a")
    b, _ = ui.create_app("b")
    root = await ui.signed_in("root", superuser=True)
    await _create(root, b)
    browser = await ui.signed_in("only-a", apps=(a,))
    for path in (f"/admin/apps/{b}/messages", f"/admin/apps/{b}/messages/shipped",
                 f"/admin/apps/{a}/messages/shipped"):  # B's message under A's URL: not found either
        answer = await browser.get(path)
        assert answer.status_code == 404, path
    for app_id in (a, b):
        base = f"/admin/apps/{app_id}/messages/shipped"
        for path, data in ((f"/admin/apps/{b}/messages", {**NEW, "name": "other"}),
                           (base, {"events": "1"}),
                           (f"{base}/localizations", {"language": "en", "title": "pwned", "body": ""}),
                           (f"{base}/localizations/en/delete", {}),
                           (f"{base}/preview", {"locale": "en"}),
                           (f"{base}/delete", {})):
            answer = await browser.post(path, data)
            assert answer.status_code == 404, (path, answer.status_code)
    with ui.db.session(write=False) as session:
        view = get_message(session, b, "shipped")
        assert get_message(session, b, "other") is None
        assert get_message(session, a, "shipped") is None
    assert view is not None
    assert view.fields.events == (1001, 1002)
    assert view.localizations["en"].title == "Order {order_id} shipped"


async def test_the_forms_need_the_csrf_token(ui: AdminUi, editor: tuple[int, Browser]) -> None:
    app_id, browser = editor
    await _create(browser, app_id)
    base = f"/admin/apps/{app_id}/messages/shipped"
    page = await browser.get(base)
    for form_id in ("edit-message", "add-localization", "preview-form", "loc-en"):
        opening = rf'<form [^>]*id="{form_id}"[^>]*>\s*'
        form = re.search(opening + r'<input type="hidden" name="csrf_token" value="([^"]+)"', page.text)
        assert form is not None, form_id
        assert form.group(1) == browser.csrf
    for path, data in ((f"/admin/apps/{app_id}/messages", {**NEW, "name": "forged"}),
                       (base, {"events": "7"}),
                       (f"{base}/localizations", {"language": "en", "title": "forged", "body": ""}),
                       (f"{base}/localizations/en/delete", {}),
                       (f"{base}/preview", {"locale": "en"}),
                       (f"{base}/delete", {})):
        for token in ("", "wrong-token"):
            answer = await browser.post(path, data, csrf=token)
            assert answer.status_code == 403, (path, token)
    with ui.db.session(write=False) as session:
        view = get_message(session, app_id, "shipped")
        assert get_message(session, app_id, "forged") is None
    assert view is not None
    assert view.fields.events == (1001, 1002)
    assert view.localizations["en"].title == "Order {order_id} shipped"
