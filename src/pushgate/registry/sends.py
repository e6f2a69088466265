"""Sends, their counters, and the per-device delivery outcomes.

A send is stored before the API answers (status ``queued``); the planner
fans it out into delivery jobs and workers record one final
:class:`~pushgate.registry.models.Delivery` row per device. Counters are
derived from the rows actually inserted — ``INSERT … ON CONFLICT DO NOTHING
RETURNING status`` — so a job re-run after a crash, which records some
outcomes a second time, never counts them twice. ``pending`` is
``targeted - (sent + failed + dead + expired)``; the send becomes ``done``
when it reaches zero after fan-out finished.

Idempotency: a request carrying an idempotency key already used by the app
returns the stored send when the request is the same (same hash of
notification, target and send_at) and raises IdempotencyConflict when it
differs. The API may cache its answer on the send (:func:`save_response`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pydantic
from sqlalchemy import Connection, Update, and_, bindparam, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pushgate.notification import Notification
from pushgate.registry._errors import IdempotencyConflict, ValidationError
from pushgate.registry._paging import Page, check_limit, decode_cursor, make_page
from pushgate.registry._types import UTCDateTime, sqlite_timestamp
from pushgate.registry.apps import require_app
from pushgate.registry.constants import (
    ACTIVE_SEND_STATUSES,
    DEFAULT_PAGE_LIMIT,
    DeliveryStatus,
    SendStatus,
)
from pushgate.registry.models import Delivery, Send, sends_table, utcnow
from pushgate.registry.targets import normalize_target
from pushgate.results import Cause, Status, TokenResult


class Outcome(NamedTuple):
    """The final outcome of one device in a send, as a worker reports it.

    A NamedTuple rather than a frozen dataclass: workers create one per
    delivery, tens of thousands per second, and tuples are several times
    cheaper to build.
    """

    device_id: int
    status: DeliveryStatus
    reason: str | None = None
    message_id: str | None = None
    attempts: int = 1

    @classmethod
    def from_result(cls, device_id: int, result: TokenResult, *, give_up: bool = False) -> Outcome:
        """Map a provider's :class:`TokenResult` to an outcome.

        RETRY is not final: it raises ValueError unless ``give_up`` (the job
        ran out of tries), in which case it is recorded as failed.
        """
        reason = result.reason or (result.cause.value if result.cause else None) or result.detail
        if result.status is Status.SENT:
            status = DeliveryStatus.SENT
        elif result.status is Status.DEAD:
            status = DeliveryStatus.DEAD
        elif result.cause is Cause.EXPIRED:
            status = DeliveryStatus.EXPIRED
        elif result.status is Status.FAILED or give_up:
            status = DeliveryStatus.FAILED
        else:
            raise ValueError("a RETRY result is not a final outcome; retry the job")
        return cls(device_id, status, reason, result.message_id, result.attempts)


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
    pending: int
    created_at: datetime
    send_at: datetime | None
    finished_at: datetime | None


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
) -> Send:
    """Store a send (status ``queued``); the caller then enqueues its fan-out job.

    With an ``idempotency_key`` already used by this app, the earlier send is
    returned (same request) or IdempotencyConflict raised (different request).
    """
    now = now or utcnow()
    require_app(session, app_id)
    note = _notification_json(notification)
    clean_target = normalize_target(target)
    if send_at is not None and send_at.tzinfo is None:
        raise ValidationError("send_at", "needs a time zone (e.g. 2030-01-01T09:00:00Z)")
    digest = _request_hash(note, clean_target, send_at)
    if idempotency_key is not None:
        if not idempotency_key or len(idempotency_key) > 255:
            raise ValidationError("idempotency_key", "1 to 255 characters")
        earlier = _by_key(session, app_id, idempotency_key)
        if earlier is not None:
            return _replay(earlier, idempotency_key, digest)
    send = Send(
        id=str(uuid.uuid4()), app_id=app_id, notification=note, target=clean_target,
        status=SendStatus.QUEUED.value, send_at=send_at, created_at=now, updated_at=now,
        targeted=0, sent=0, failed=0, dead=0, expired=0,
        idempotency_key=idempotency_key, request_hash=digest,
    )
    try:
        with session.begin_nested():  # a concurrent request with the same key may win
            session.add(send)
    except IntegrityError:
        earlier = _by_key(session, app_id, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return _replay(earlier, idempotency_key or "", digest)
    return send


def _by_key(session: Session, app_id: int, key: str) -> Send | None:
    return session.scalar(select(Send).where(Send.app_id == app_id, Send.idempotency_key == key))


def _replay(earlier: Send, key: str, digest: str) -> Send:
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
    before: datetime | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> list[Send]:
    """The app's sends, newest first; pass the last ``created_at`` as ``before`` for more."""
    query = select(Send).where(Send.app_id == app_id)
    if status is not None:
        query = query.where(Send.status == status)
    if before is not None:
        query = query.where(Send.created_at < before)
    return list(session.scalars(query.order_by(Send.created_at.desc()).limit(check_limit(limit))))


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


def sends_to_resume(session: Session) -> list[tuple[str, datetime | None]]:
    """(send id, send_at) of sends whose fan-out has not finished: re-enqueue them at start-up."""
    rows = session.execute(
        select(Send.id, Send.send_at)
        .where(Send.status.in_([SendStatus.QUEUED.value, SendStatus.FANNING_OUT.value]))
        .order_by(Send.created_at)
    )
    return [(send_id, send_at) for send_id, send_at in rows]


def record_outcomes(
    session: Session,
    send_id: str,
    provider: str,
    outcomes: Iterable[Outcome],
    *,
    now: datetime | None = None,
) -> dict[str, int]:
    """Record final outcomes in bulk; returns the newly recorded count per status.

    Idempotent: a device that already has a row for this send keeps it and is
    not counted again. The counters move by exactly the rows inserted.
    """
    return record_outcomes_on(session.connection(), send_id, provider, outcomes, now=now)


def record_outcomes_on(
    connection: Connection,
    send_id: str,
    provider: str,
    outcomes: Iterable[Outcome],
    *,
    now: datetime | None = None,
) -> dict[str, int]:
    """:func:`record_outcomes` on a Core connection (the planner's hot path).

    One ``INSERT … ON CONFLICT DO NOTHING`` per status, a single statement
    whatever the number of rows — over ``unnest``-ed arrays on PostgreSQL,
    over ``json_each`` of one JSON parameter on SQLite — and the rows
    actually inserted (the statement's row count) are what the counters add.
    """
    now = now or utcnow()
    by_status: dict[str, list[Outcome]] = {}
    seen: set[int] = set()
    for o in outcomes:
        if o.device_id in seen:
            continue
        seen.add(o.device_id)
        status = _STATUS_TEXT.get(o.status)
        if status is None:
            raise ValueError(f"not a delivery status: {o.status!r}")
        by_status.setdefault(status, []).append(o)
    counts: Counter[str] = Counter()
    for status, group in by_status.items():
        inserted = _insert_deliveries(connection, send_id, provider, status, group, now)
        if inserted > 0:
            counts[status] = inserted
    if counts:
        _add_to_counters(connection, send_id, counts, now)
    return dict(counts)


def _insert_deliveries(
    connection: Connection, send_id: str, provider: str, status: str, group: list[Outcome], now: datetime
) -> int:
    reasons = [o.reason[:200] if o.reason else None for o in group]
    message_ids = [o.message_id[:200] if o.message_id else None for o in group]
    if connection.dialect.name == "postgresql":
        ids = [o.device_id for o in group]
        attempts = [o.attempts for o in group]
        params = (send_id, status, provider, now, ids, reasons, message_ids, attempts)
        return connection.exec_driver_sql(_INSERT_DELIVERIES_UNNEST, params).rowcount
    rows = json.dumps([
        (o.device_id, reason, message_id, o.attempts)
        for o, reason, message_id in zip(group, reasons, message_ids, strict=True)
    ])
    return connection.exec_driver_sql(
        _INSERT_DELIVERIES_JSON, (send_id, status, provider, sqlite_timestamp(now), rows)
    ).rowcount


# SQLite: the rows travel as one JSON array and are inserted by one step of one
# statement. An executemany steps once per row, and the sqlite3 module releases and
# re-takes the GIL around every step; while the event loop holds the GIL, each
# re-take waits, so a 500-row executemany took tens of milliseconds in the server.
# ("WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.)
_INSERT_DELIVERIES_JSON = (
    "INSERT INTO deliveries (send_id, status, provider, updated_at, device_id, reason, message_id, attempts) "
    "SELECT ?, ?, ?, ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
    " json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(?) WHERE true"
    " ON CONFLICT (send_id, device_id) DO NOTHING"
)
_INSERT_DELIVERIES_UNNEST = (
    "INSERT INTO deliveries (send_id, status, provider, updated_at, device_id, reason, message_id, attempts) "
    "SELECT %s, %s, %s, %s, d, r, m, a FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::int[])"
    " AS t(d, r, m, a) ON CONFLICT (send_id, device_id) DO NOTHING"
)
# Enum members and their plain strings both map to the plain string the driver binds.
_STATUS_TEXT: dict[str, str] = {status: status.value for status in DeliveryStatus}


def _counters_statement() -> Update:
    """Built once: the counters move by the rows inserted, and the send is done when
    nothing is pending after fan-out finished (status ``sending``)."""
    c = sends_table.c
    now = bindparam("b_now", type_=UTCDateTime())
    finishing = and_(
        c.status == SendStatus.SENDING.value,
        c.targeted <= c.sent + c.failed + c.dead + c.expired + bindparam("b_total"),
    )
    return (
        update(sends_table)
        .where(c.id == bindparam("b_send"))
        .values(
            sent=c.sent + bindparam("b_sent"),
            failed=c.failed + bindparam("b_failed"),
            dead=c.dead + bindparam("b_dead"),
            expired=c.expired + bindparam("b_expired"),
            updated_at=now,
            status=case((finishing, SendStatus.DONE.value), else_=c.status),
            finished_at=case((finishing, now), else_=c.finished_at),
        )
    )


_ADD_TO_COUNTERS = _counters_statement()


def _add_to_counters(connection: Connection, send_id: str, counts: Counter[str], now: datetime) -> None:
    connection.execute(_ADD_TO_COUNTERS, {
        "b_send": send_id, "b_now": now, "b_total": sum(counts.values()),
        "b_sent": counts[DeliveryStatus.SENT], "b_failed": counts[DeliveryStatus.FAILED],
        "b_dead": counts[DeliveryStatus.DEAD], "b_expired": counts[DeliveryStatus.EXPIRED],
    })


def get_send_status(session: Session, send_id: str, *, app_id: int | None = None) -> SendStatusView | None:
    c = sends_table.c
    query = select(
        c.id, c.app_id, c.status, c.targeted, c.sent, c.failed, c.dead, c.expired,
        c.created_at, c.send_at, c.finished_at,
    ).where(c.id == send_id)
    if app_id is not None:
        query = query.where(c.app_id == app_id)
    row = session.execute(query).one_or_none()
    if row is None:
        return None
    recorded = row.sent + row.failed + row.dead + row.expired
    return SendStatusView(
        id=row.id, app_id=row.app_id, status=row.status, targeted=row.targeted, sent=row.sent,
        failed=row.failed, dead=row.dead, expired=row.expired, pending=max(0, row.targeted - recorded),
        created_at=row.created_at, send_at=row.send_at, finished_at=row.finished_at,
    )


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
    query = select(Delivery).where(
        Delivery.send_id == send_id, Delivery.device_id > decode_cursor(cursor)
    )
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
