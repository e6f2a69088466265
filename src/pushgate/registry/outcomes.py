"""Recording the final outcome of each device in a send, and the send's counters.

Counters are derived from the rows actually inserted — ``INSERT … ON
CONFLICT DO NOTHING`` over the ``(send_id, device_id)`` primary key — so a
job re-run after a crash, which records some outcomes a second time, never
counts them twice. ``pending`` is ``targeted - (sent + failed + dead +
expired + cancelled)``; the send becomes ``done`` when it reaches zero after fan-out
finished.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Update, and_, bindparam, case, update
from sqlalchemy.orm import Session

from pushgate.registry._types import UTCDateTime, sqlite_timestamp
from pushgate.registry.constants import DeliveryStatus, SendStatus
from pushgate.registry.models import sends_table, utcnow
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
        c.targeted <= c.sent + c.failed + c.dead + c.expired + c.cancelled + bindparam("b_total"),
    )
    return (
        update(sends_table)
        .where(c.id == bindparam("b_send"))
        .values(
            sent=c.sent + bindparam("b_sent"),
            failed=c.failed + bindparam("b_failed"),
            dead=c.dead + bindparam("b_dead"),
            expired=c.expired + bindparam("b_expired"),
            cancelled=c.cancelled + bindparam("b_cancelled"),
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
        "b_cancelled": counts[DeliveryStatus.CANCELLED],
    })


__all__ = ["Outcome", "record_outcomes", "record_outcomes_on"]
