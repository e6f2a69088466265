"""Compose: the notification form, its live per-provider preview, the target, schedule and send.

``POST …/compose`` with ``action=preview`` re-renders the form with the
preview (the page's script asks ``POST …/preview`` for the preview alone
while typing, so it works without reloading, and without script too). A
broadcast (tags, everyone) is sent only after a confirmation step that
shows how many devices it reaches now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from pushgate.admin.auth import SignedIn
from pushgate.admin.errors import PREFIX
from pushgate.admin.preview import notification_from_form, preview
from pushgate.admin.sending import submit
from pushgate.admin.targets import AUDIENCES, BROADCASTS, audience_count, target_from_form
from pushgate.admin.web import Admin, redirect, render
from pushgate.notification import Notification
from pushgate.registry import ValidationError, list_credentials, require_app
from pushgate.registry.constants import ProviderName
from pushgate.registry.models import utcnow

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _configured(admin: Admin, app_id: int) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The app and, per provider it has credentials for, the non-secret fields the preview needs."""
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
        rows = list_credentials(session, app_id)
        return app, {row.provider: {"topic": row.config.get("topic")} for row in rows}


def _previews(admin: Admin, app_id: int, notification: Notification | None) -> list[Any]:
    _app, configured = _configured(admin, app_id)
    shown = configured or {p.value: {} for p in ProviderName}  # no credentials yet: show all four
    return preview(notification, shown, utcnow()) if notification is not None else []


def _page(admin: Admin, app_id: int, status: int = 200, **context: Any) -> Response:
    app, configured = _configured(admin, app_id)
    values = {name: admin.text(name) for name in (
        "title", "subtitle", "body", "image", "url", "sound", "badge", "ttl", "priority", "data",
        "collapse_key", "category", "thread_id", "silent", "audience", "audience_values", "send_at")}
    values["audience"] = values["audience"] or "tokens"
    return render(admin, "compose.html", code=status, app=app, values=values, audiences=AUDIENCES,
                  providers=[p.value for p in ProviderName], configured=sorted(configured),
                  chosen_providers=admin.texts("providers"), **context)


@router.get("/apps/{app_id}/compose")
def compose_page(app_id: int, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    return _page(admin, app_id)


@router.post("/apps/{app_id}/preview")
def preview_fragment(app_id: int, admin: SignedIn) -> Response:
    """The preview panel alone (HTML), for the page's script."""
    admin.require_app(app_id)
    try:
        notification = notification_from_form(admin.text)
        previews, error = _previews(admin, app_id, notification), None
    except ValidationError as exc:
        previews, error = [], f"{exc.field}: {exc.message}"
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
    return render(admin, "_preview.html", app=app, previews=previews, preview_error=error,
                  note=notification if error is None else None)


def _send_at(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)  # the form's datetime-local, in UTC
    except ValueError:
        raise ValidationError("send_at", "a date and time (UTC)") from None


@router.post("/apps/{app_id}/compose")
async def compose_post(app_id: int, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    try:
        notification = notification_from_form(admin.text)
        target = target_from_form(admin.text, admin.texts("providers"))
        send_at = _send_at(admin.text("send_at"))
    except ValidationError as exc:
        return await run_in_threadpool(_page, admin, app_id, 422, error=f"{exc.field}: {exc.message}")
    previews = await run_in_threadpool(_previews, admin, app_id, notification)
    if admin.text("action") != "send":
        return await run_in_threadpool(_page, admin, app_id, 200, previews=previews, note=notification)
    if admin.text("audience") in BROADCASTS and admin.text("confirmed") != "yes":
        count = await run_in_threadpool(_count, admin, app_id, target)
        return await run_in_threadpool(_page, admin, app_id, 200, previews=previews, note=notification,
                                       confirm=count)
    result = await submit(admin.services, app_id, notification, target, send_at=send_at)
    if result.send_id is None:
        return await run_in_threadpool(_page, admin, app_id, 422, previews=previews, note=notification,
                                       error=result.error)
    return redirect(f"{PREFIX}/apps/{app_id}/sends/{result.send_id}")


def _count(admin: Admin, app_id: int, target: dict[str, Any]) -> int:
    with admin.services.db.session(write=False) as session:
        return audience_count(session, app_id, target)
