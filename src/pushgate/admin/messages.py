"""Templates: an app's message catalog for event mode — list, create, edit, localize, preview, delete.

Every read and write goes through the functions ``/v1/messages`` uses
(:mod:`pushgate.service.catalog` to check and store,
:mod:`pushgate.registry.catalog.messages` to read and delete,
:func:`pushgate.service.preview.preview_message` to render), so a template
with a bad ``{placeholder}`` is refused here with the same field and
message the API answers (docs/events.md §1-§2). A message is addressed by
its name inside the app the URL names; another app's message is simply not
found, as every other admin page does it.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from pushgate.admin.auth import SignedIn
from pushgate.admin.errors import PREFIX, AdminPageError
from pushgate.admin.message_forms import MESSAGE_FIELDS, message_data, message_values, preview_params
from pushgate.admin.web import Admin, redirect, render
from pushgate.notification import Priority
from pushgate.registry import NotFound, ValidationError, require_app
from pushgate.registry.catalog.messages import (
    MessageView,
    delete_localization,
    delete_message,
    get_event_settings,
    get_message,
    list_messages,
)
from pushgate.service.catalog import QUIET_HOURS_ACTIONS, check_name, save_localization, save_message
from pushgate.service.preview import Preview, preview_message

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _base(app_id: int) -> str:
    return f"{PREFIX}/apps/{app_id}/messages"


def _choices() -> dict[str, Any]:
    return {"priorities": [p.value for p in Priority], "quiet_actions": QUIET_HOURS_ACTIONS}


def _list_page(admin: Admin, app_id: int, status: int = 200, error: str | None = None) -> Response:
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
        messages = list_messages(session, app_id)
        default_language = get_event_settings(session, app_id)["default_language"]
    values = {name: admin.text(name) for name in MESSAGE_FIELDS}
    values["language"] = values["language"] or default_language
    values["quiet_hours"] = values["quiet_hours"] or "deliver"
    return render(admin, "messages.html", code=status, app=app, messages=messages, values=values,
                  error=error, **_choices())


def _message(admin: Admin, app_id: int, name: str) -> tuple[Any, MessageView]:
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
        view = get_message(session, app_id, name)
    if view is None:
        raise AdminPageError(404, "no such message")
    return app, view


def _edit_page(admin: Admin, app_id: int, name: str, status: int = 200, *, error: str | None = None,
               form_values: bool = False, **context: Any) -> Response:
    app, view = _message(admin, app_id, name)
    values = message_values(view)
    if form_values:  # a refused edit shows what was typed, not what is stored
        values.update({key: admin.text(key) for key in values if key != "name"})
    shown = context.setdefault("shown", None)
    context["wires"] = {p.provider: _wire_text(p.payload) for p in shown.providers} if shown else {}
    context.setdefault("preview_error", None)
    typed = {key: admin.text(key) for key in ("language", "title", "body", "locale", "params")}
    return render(admin, "message.html", code=status, app=app, message=view, values=values, error=error,
                  typed=typed, **_choices(), **context)


def _wire_text(payload: Any) -> str:
    """A provider's payload as it reads: JSON indented, characters as typed (not \\u escapes)."""
    if payload is None or isinstance(payload, str):
        return payload or ""
    return json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True)


@router.get("/apps/{app_id}/messages")
def messages_page(app_id: int, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    return _list_page(admin, app_id)


def _create(admin: Admin, app_id: int) -> str:
    name = check_name(admin.text("name"))
    data = message_data(admin.text, with_localization=True)
    with admin.services.db.session() as session:
        if get_message(session, app_id, name) is not None:
            raise ValidationError("name", f"a message named {name!r} exists: edit it instead")
        save_message(session, app_id, name, data)
    return name


@router.post("/apps/{app_id}/messages")
async def create_message(app_id: int, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    try:
        name = await run_in_threadpool(_create, admin, app_id)
    except ValidationError as exc:
        return await run_in_threadpool(_list_page, admin, app_id, 422, f"{exc.field}: {exc.message}")
    return redirect(f"{_base(app_id)}/{name}?saved=1")


@router.get("/apps/{app_id}/messages/{name}")
def message_page(app_id: int, name: str, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    return _edit_page(admin, app_id, name)


def _update(admin: Admin, app_id: int, name: str) -> None:
    data = message_data(admin.text, with_localization=False)
    with admin.services.db.session() as session:
        if get_message(session, app_id, name) is None:
            raise AdminPageError(404, "no such message")
        save_message(session, app_id, name, data)  # no "localizations": the set is kept


@router.post("/apps/{app_id}/messages/{name}")
async def update_message(app_id: int, name: str, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    try:
        await run_in_threadpool(_update, admin, app_id, name)
    except ValidationError as exc:
        refused = f"{exc.field}: {exc.message}"
        return await run_in_threadpool(partial(_edit_page, admin, app_id, name, 422, error=refused,
                                               form_values=True))
    return redirect(f"{_base(app_id)}/{name}?saved=1")


def _delete(admin: Admin, app_id: int, name: str) -> None:
    with admin.services.db.session() as session:
        if not delete_message(session, app_id, name):
            raise AdminPageError(404, "no such message")


@router.post("/apps/{app_id}/messages/{name}/delete")
async def delete_message_(app_id: int, name: str, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    await run_in_threadpool(_delete, admin, app_id, name)
    return redirect(f"{_base(app_id)}?deleted={name}")


def _localize(admin: Admin, app_id: int, name: str) -> str:
    language = admin.text("language")
    with admin.services.db.session() as session:
        try:
            save_localization(session, app_id, name, language,
                              {"title": admin.text("title"), "body": admin.text("body")})
        except NotFound:
            raise AdminPageError(404, "no such message") from None
    return language


@router.post("/apps/{app_id}/messages/{name}/localizations")
async def save_localization_(app_id: int, name: str, admin: SignedIn) -> Response:
    """Add a language, or replace one (the same form, its language filled in)."""
    admin.require_app(app_id)
    try:
        language = await run_in_threadpool(_localize, admin, app_id, name)
    except ValidationError as exc:
        refused = f"{exc.field}: {exc.message}"
        return await run_in_threadpool(partial(_edit_page, admin, app_id, name, 422,
                                               localization_error=refused))
    return redirect(f"{_base(app_id)}/{name}?localized={quote(language)}")


def _unlocalize(admin: Admin, app_id: int, name: str, language: str) -> None:
    with admin.services.db.session() as session:
        if get_message(session, app_id, name) is None:
            raise AdminPageError(404, "no such message")
        # Tags are stored lower-case with '-' (RFC 5646 §2.1.1), as DELETE /v1/… reads them.
        if not delete_localization(session, app_id, name, language.replace("_", "-").lower()):
            raise AdminPageError(404, "no such localization")


@router.post("/apps/{app_id}/messages/{name}/localizations/{language}/delete")
async def delete_localization_(app_id: int, name: str, language: str, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    await run_in_threadpool(_unlocalize, admin, app_id, name, language)
    return redirect(f"{_base(app_id)}/{name}?unlocalized={quote(language)}")


def _preview(admin: Admin, app_id: int, name: str) -> Preview:
    _message(admin, app_id, name)  # 404 before anything is rendered
    try:
        return preview_message(admin.services, app_id, name, locale=admin.text("locale") or None,
                               params=preview_params(admin.text("params")))
    except NotFound:
        raise AdminPageError(404, "no such message") from None


@router.post("/apps/{app_id}/messages/{name}/preview")
async def preview_(app_id: int, name: str, admin: SignedIn) -> Response:
    """The edit page with the message rendered for the locale and built for each provider."""
    admin.require_app(app_id)
    try:
        shown = await run_in_threadpool(_preview, admin, app_id, name)
    except ValidationError as exc:
        refused = f"{exc.field}: {exc.message}"
        return await run_in_threadpool(partial(_edit_page, admin, app_id, name, 422, preview_error=refused))
    return await run_in_threadpool(partial(_edit_page, admin, app_id, name, shown=shown))
