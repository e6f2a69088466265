"""Sends: the list with counters, one send's outcomes by reason and over time, deliveries, cancel.

Counters and deliveries are the API's (``get_send_status``,
``list_deliveries``); cancelling is :func:`pushgate.service.cancel.cancel_and_settle`,
as ``POST /v1/sends/{id}/cancel``. The send page's script polls
``…/status.json`` while the send runs and updates the counters in place.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from pushgate.admin.auth import SignedIn
from pushgate.admin.chart import timeline_svg
from pushgate.admin.errors import PREFIX, AdminPageError
from pushgate.admin.web import Admin, redirect, render
from pushgate.registry import (
    SendStatus,
    SendStatusView,
    ValidationError,
    device_tokens,
    get_device,
    get_send,
    get_send_status,
    list_deliveries,
    list_sends,
    require_app,
)
from pushgate.registry.admin_queries import delivery_timeline, get_delivery, outcomes_by_reason
from pushgate.registry.constants import ACTIVE_SEND_STATUSES, MAX_ID, DeliveryStatus
from pushgate.server.routes.sends import shorten_token
from pushgate.service.cancel import cancel_and_settle

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Text = Annotated[str | None, Query(max_length=500)]
PAGE_SIZE = 50


@router.get("/apps/{app_id}/sends")
def sends_page(app_id: int, admin: SignedIn, status: Text = None, cursor: Text = None) -> Response:
    admin.require_app(app_id)
    chosen = status if status in {s.value for s in SendStatus} else None
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
        try:
            page = list_sends(session, app_id, status=chosen, cursor=cursor, limit=PAGE_SIZE)
        except ValidationError as exc:
            raise AdminPageError(422, f"{exc.field}: {exc.message}") from None
    return render(admin, "sends.html", app=app, sends=page.items, next_cursor=page.next_cursor,
                  status=chosen or "", statuses=[s.value for s in SendStatus])


def _owned(admin: Admin, session: Any, app_id: int, send_id: str) -> SendStatusView:
    view = get_send_status(session, send_id[:36])
    if view is None or view.app_id != app_id:  # missing, or another app's: the same answer
        raise AdminPageError(404, "no such send")
    return view


@router.get("/apps/{app_id}/sends/{send_id}")
def send_page(
    app_id: int, send_id: str, admin: SignedIn, delivery_status: Text = None, cursor: Text = None
) -> Response:
    admin.require_app(app_id)
    chosen = delivery_status if delivery_status in {s.value for s in DeliveryStatus} else None
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
        view = _owned(admin, session, app_id, send_id)
        send = get_send(session, send_id)
        reasons = outcomes_by_reason(session, send_id)
        timeline = delivery_timeline(session, send_id)
        try:
            page = list_deliveries(session, send_id, status=chosen, cursor=cursor, limit=PAGE_SIZE)
        except ValidationError as exc:
            raise AdminPageError(422, f"{exc.field}: {exc.message}") from None
        tokens = device_tokens(session, [row.device_id for row in page.items])
    shown_tokens = {device_id: shorten_token(token) for device_id, token in tokens.items()}
    return render(admin, "send.html", app=app, send=view, notification=send.notification if send else {},
                  target=send.target if send else {}, reasons=reasons, chart=timeline_svg(timeline),
                  deliveries=page.items, tokens=shown_tokens, next_cursor=page.next_cursor,
                  delivery_status=chosen or "", delivery_statuses=[s.value for s in DeliveryStatus],
                  running=view.status in ACTIVE_SEND_STATUSES)


@router.get("/apps/{app_id}/sends/{send_id}/status.json")
def send_status(app_id: int, send_id: str, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    with admin.services.db.session(write=False) as session:
        view = _owned(admin, session, app_id, send_id)
    shown = asdict(view)
    for name in ("created_at", "send_at", "finished_at"):
        shown[name] = shown[name].isoformat() if shown[name] is not None else None
    shown["running"] = view.status in ACTIVE_SEND_STATUSES
    return JSONResponse(shown, headers={"Cache-Control": "no-store"})


@router.get("/apps/{app_id}/sends/{send_id}/deliveries/{device_id}")
def delivery_page(app_id: int, send_id: str, device_id: int, admin: SignedIn) -> Response:
    """One delivery: its outcome, the provider's reason and message id, its device, what was sent."""
    admin.require_app(app_id)
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
        view = _owned(admin, session, app_id, send_id)
        delivery = get_delivery(session, send_id, device_id) if 0 <= device_id <= MAX_ID else None
        if delivery is None:
            raise AdminPageError(404, "no such delivery")
        device = get_device(session, app_id, device_id)
        send = get_send(session, send_id)
        return render(admin, "delivery.html", app=app, send=view, delivery=delivery, device=device,
                      notification=send.notification if send else {})


@router.post("/apps/{app_id}/sends/{send_id}/cancel")
async def cancel(app_id: int, send_id: str, admin: SignedIn) -> Response:
    admin.require_app(app_id)

    def work() -> SendStatusView | None:
        with admin.services.db.session(write=False) as session:
            _owned(admin, session, app_id, send_id)
        return cancel_and_settle(admin.services.db, admin.services.queue, send_id, app_id=app_id)

    view = await run_in_threadpool(work)
    if view is None:
        raise AdminPageError(404, "no such send")
    if view.status != SendStatus.CANCELLED:
        raise AdminPageError(409, f"the send is {view.status}; only unfinished sends can be cancelled")
    return redirect(f"{PREFIX}/apps/{app_id}/sends/{send_id}?cancelled=1")
