"""Sends, their counters, and the per-device delivery outcomes.

A send is stored before the API answers (status ``queued``); the planner
fans it out into delivery jobs and workers record one final
:class:`~pushgate.registry.models.Delivery` row per device
(:mod:`pushgate.registry.outcomes`, which also keeps the counters).

Idempotency: a request carrying an idempotency key already used by the app
returns the stored send when the request is the same (same hash of
notification, target and send_at) and raises IdempotencyConflict when it
differs. The API may cache its answer on the send (:func:`save_response`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pushgate.notification import Notification
from pushgate.registry._errors import IdempotencyConflict, ValidationError
from pushgate.registry._paging import (
    Page,
    check_limit,
    decode_cursor,
    decode_time_cursor,
    encode_time_cursor,
    make_page,
    make_page_with,
)
from pushgate.registry.apps import require_app
from pushgate.registry.constants import (
    ACTIVE_SEND_STATUSES,
    DEFAULT_PAGE_LIMIT,
    TOPIC_DEVICE_ID,
    SendStatus,
)
from pushgate.registry.models import Delivery, Send, sends_table, utcnow
from pushgate.registry.targets import normalize_target


@dataclass(frozen=True, slots=True)
class SendStatusView:
    """A send's progress, as the status endpoint shows it."""

    id: str
    app_id: int
    status: str
    targeted: int
    sent: int
    failed: int
    dead: int
    expired: int
    cancelled: int
    pending: int
    created_at: datetime
    send_at: datetime | None
    finished_at: datetime | None


_c = sends_table.c
_STATUS_COLUMNS = (_c.id, _c.app_id, _c.status, _c.targeted, _c.sent, _c.failed, _c.dead, _c.expired,
                   _c.cancelled, _c.created_at, _c.send_at, _c.finished_at)


def _status_view(row: Any) -> SendStatusView:  # a Row of _STATUS_COLUMNS
    recorded = row.sent + row.failed + row.dead + row.expired + row.cancelled
    return SendStatusView(
        id=row.id, app_id=row.app_id, status=row.status, targeted=row.targeted, sent=row.sent,
        failed=row.failed, dead=row.dead, expired=row.expired,
        cancelled=row.cancelled, pending=max(0, row.targeted - recorded),
        created_at=row.created_at, send_at=row.send_at, finished_at=row.finished_at,
    )


def _request_hash(notification: dict[str, Any], target: dict[str, Any], send_at: datetime | None) -> str:
    canonical = json.dumps(
        {"notification": notification, "target": target, "send_at": send_at.isoformat() if send_at else None},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _notification_json(notification: Notification | Mapping[str, Any]) -> dict[str, Any]:
    try:
        model = (
            notification if isinstance(notification, Notification)
            else Notification.model_validate(notification)
        )
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"notification.{where}" if where else "notification", first["msg"]) from None
    return model.model_dump(mode="json", exclude_none=True)


def create_send(
    session: Session,
    app_id: int,
    notification: Notification | Mapping[str, Any],
    target: Mapping[str, Any],
    *,
    idempotency_key: str | None = None,
    send_at: datetime | None = None,
    now: datetime | None = None,
    audience: int | None = None,
) -> Send:
    """Store a send (status ``queued``); the caller then enqueues its fan-out job.

    ``audience``: the devices it targets now (admission counts those not yet fanned out).

    With an ``idempotency_key`` already used by this app, the earlier send is
    returned (same request) or IdempotencyConflict raised (different request).
    """
    require_app(session, app_id)
    send = new_send(app_id, notification, target, idempotency_key=idempotency_key, send_at=send_at,
                    now=now, audience=audience)
    return store_send(session, send)


def new_send(
    app_id: int,
    notification: Notification | Mapping[str, Any],
    target: Mapping[str, Any],
    *,
    idempotency_key: str | None = None,
    send_at: datetime | None = None,
    now: datetime | None = None,
    audience: int | None = None,
) -> Send:
    """A checked send (status ``queued``) that is not stored yet: :func:`store_send` stores it.

    Built outside any transaction: the JSON, the request's hash and what the
    caller adds (its fan-out state, its answer) are Python work that a write
    transaction, which holds SQLite's one write lock, need not wait for.
    """
    now = now or utcnow()
    note = _notification_json(notification)
    clean_target = normalize_target(target)
    if send_at is not None and send_at.tzinfo is None:
        raise ValidationError("send_at", "needs a time zone (e.g. 2030-01-01T09:00:00Z)")
    if idempotency_key is not None and (not idempotency_key or len(idempotency_key) > 255):
        raise ValidationError("idempotency_key", "1 to 255 characters")
    return Send(
        id=str(uuid.uuid4()), app_id=app_id, notification=note, target=clean_target,
        status=SendStatus.QUEUED.value, send_at=send_at, created_at=now, updated_at=now,
        targeted=0, sent=0, failed=0, dead=0, expired=0, cancelled=0,
        audience=audience, direct="all" not in clean_target,
        idempotency_key=idempotency_key, request_hash=_request_hash(note, clean_target, send_at),
    )


def store_send(session: Session, send: Send) -> Send:
    """Store a send made by :func:`new_send` (one INSERT, before this returns).

    Returns ``send``, or, when the app already used its idempotency key, the
    earlier send (same request) or IdempotencyConflict (different request).
    """
    require_app(session, send.app_id)
    key = send.idempotency_key
    if key is None:
        session.add(send)
        session.flush()  # stored now: the caller's next statements (Core ones too) see the row
        return send
    earlier = _by_key(session, send.app_id, key)
    if earlier is not None:
        return _replay(earlier, key, send.request_hash)
    try:
        with session.begin_nested():  # a concurrent request may take the key first
            session.add(send)
    except IntegrityError:
        earlier = _by_key(session, send.app_id, key)
        if earlier is None:
            raise
        return _replay(earlier, key, send.request_hash)
    return send


def send_id_for_key(session: Session, app_id: int, key: str) -> str | None:
    """The id of the app's send stored with idempotency key ``key``, if any."""
    return session.scalar(select(Send.id).where(Send.app_id == app_id, Send.idempotency_key == key))


def _by_key(session: Session, app_id: int, key: str) -> Send | None:
    return session.scalar(select(Send).where(Send.app_id == app_id, Send.idempotency_key == key))


def _replay(earlier: Send, key: str, digest: str | None) -> Send:
    if earlier.request_hash != digest:
        raise IdempotencyConflict(key)
    return earlier


def save_response(session: Session, send_id: str, response: dict[str, Any]) -> None:
    """Cache the API's answer, returned as is when the idempotent request is replayed."""
    session.execute(update(sends_table).where(sends_table.c.id == send_id).values(response=response))


def get_send(session: Session, send_id: str, *, app_id: int | None = None) -> Send | None:
    send = session.get(Send, send_id)
    return send if send is not None and (app_id is None or send.app_id == app_id) else None


def list_sends(
    session: Session,
    app_id: int,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> Page[SendStatusView]:
    """One page of the app's sends, newest first; pass ``next_cursor`` back for more.

    Ordered by (created_at, id), and the cursor carries both: sends stored in
    the same clock tick share a created_at, and a cursor on the time alone
    would skip the rest of them at a page boundary.
    """
    limit = check_limit(limit)
    c = sends_table.c
    query = select(*_STATUS_COLUMNS).where(c.app_id == app_id)
    if status is not None:
        query = query.where(c.status == status)
    after = decode_time_cursor(cursor)
    if after is not None:
        at, last_id = after
        query = query.where(
            c.created_at < at if last_id is None
            else or_(c.created_at < at, and_(c.created_at == at, c.id < last_id))
        )
    rows = session.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1))
    views = [_status_view(row) for row in rows]
    return make_page_with(views, limit, lambda view: encode_time_cursor(view.created_at, view.id))


def cancel_send(
    session: Session, send_id: str, *, app_id: int | None = None, now: datetime | None = None
) -> Send | None:
    """Stop a send that has not finished; jobs already queued then deliver nothing."""
    send = get_send(session, send_id, app_id=app_id)
    if send is not None and send.status in ACTIVE_SEND_STATUSES:
        send.status = SendStatus.CANCELLED.value
        send.finished_at = send.updated_at = now or utcnow()
        session.flush()
    return send


def unexpanded_deliveries(session: Session) -> tuple[int, int]:
    """(all, direct): deliveries that accepted sends will still enqueue when fan-out reaches them.

    A broadcast's fan-out job weighs 1 in the queue until it runs; what it
    will add is its audience minus what fan-out has counted so far.
    """
    left = case((_c.audience > _c.targeted, _c.audience - _c.targeted), else_=0)
    rows = session.execute(
        select(_c.direct, func.coalesce(func.sum(left), 0))
        .where(_c.status.in_([SendStatus.QUEUED.value, SendStatus.FANNING_OUT.value]),
               _c.audience.is_not(None))
        .group_by(_c.direct)
    )
    by_lane = {bool(direct): int(count) for direct, count in rows}
    return sum(by_lane.values()), by_lane.get(True, 0)


def sends_to_resume(session: Session) -> list[tuple[str, datetime | None]]:
    """(send id, send_at) of sends whose fan-out has not finished: re-enqueue them at start-up."""
    rows = session.execute(
        select(Send.id, Send.send_at)
        .where(Send.status.in_([SendStatus.QUEUED.value, SendStatus.FANNING_OUT.value]))
        .order_by(Send.created_at)
    )
    return [(send_id, send_at) for send_id, send_at in rows]


def get_send_status(session: Session, send_id: str, *, app_id: int | None = None) -> SendStatusView | None:
    query = select(*_STATUS_COLUMNS).where(_c.id == send_id)
    if app_id is not None:
        query = query.where(_c.app_id == app_id)
    row = session.execute(query).one_or_none()
    return _status_view(row) if row is not None else None


def list_deliveries(
    session: Session,
    send_id: str,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> Page[Delivery]:
    """One page of a send's deliveries in device id order."""
    limit = check_limit(limit)
    # The first page starts below 0: a topic send's one row is on TOPIC_DEVICE_ID (0).
    after = decode_cursor(cursor) if cursor else TOPIC_DEVICE_ID - 1
    query = select(Delivery).where(Delivery.send_id == send_id, Delivery.device_id > after)
    if status is not None:
        query = query.where(Delivery.status == status)
    rows = list(session.scalars(query.order_by(Delivery.device_id).limit(limit + 1)))
    return make_page(rows, limit, lambda delivery: delivery.device_id)


def device_deliveries(session: Session, device_id: int, *, limit: int = 20) -> list[Delivery]:
    """A device's most recent deliveries, newest first."""
    query = (
        select(Delivery)
        .where(Delivery.device_id == device_id)
        .order_by(Delivery.updated_at.desc())
        .limit(check_limit(limit))
    )
    return list(session.scalars(query))
