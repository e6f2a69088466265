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
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from pushgate.registry._types import sqlite_timestamp
from pushgate.registry.constants import DeliveryStatus, SendStatus
from pushgate.registry.models import utcnow
from pushgate.registry.webhook_capture import capture_on
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
    provider_timestamps: Mapping[int, datetime] | None = None,
) -> dict[str, int]:
    """Record final outcomes in bulk; returns the newly recorded count per status.

    Idempotent: a device that already has a row for this send keeps it and is
    not counted again. The counters move by exactly the rows inserted.
    ``provider_timestamps`` (device id → when the provider says its token died)
    go into the webhook events of dead tokens (registry/webhook_capture.py).
    """
    return record_outcomes_on(session.connection(), send_id, provider, outcomes, now=now,
                              provider_timestamps=provider_timestamps)


def record_outcomes_on(
    connection: Connection,
    send_id: str,
    provider: str,
    outcomes: Iterable[Outcome],
    *,
    now: datetime | None = None,
    provider_timestamps: Mapping[int, datetime] | None = None,
) -> dict[str, int]:
    """:func:`record_outcomes` on a Core connection (the planner's hot path).

    One ``INSERT … ON CONFLICT DO NOTHING`` per status, a single statement
    whatever the number of rows — over ``unnest``-ed arrays on PostgreSQL,
    over ``json_each`` of one JSON parameter on SQLite — and the rows
    actually inserted (the statement's row count) are what the counters add.
    """
    now = now or utcnow()
    counts: Counter[str] = Counter()
    for status, group in group_by_status(outcomes).items():
        inserted = _insert_deliveries(connection, send_id, provider, status, group, now)
        if inserted > 0:
            counts[status] = inserted
            capture_on(connection, send_id, provider, status,
                       [(o.device_id, o.reason[:200] if o.reason else None) for o in group], now,
                       provider_timestamps)
    if counts:
        _add_to_counters(connection, send_id, counts, now)
    return dict(counts)


def group_by_status(outcomes: Iterable[Outcome]) -> dict[str, list[Outcome]]:
    """The outcomes by the plain status string, each device once (its first outcome)."""
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
    return by_status


def postgres_columns(group: Sequence[Outcome]) -> tuple[list[Any], ...]:
    """The four arrays that :data:`INSERT_DELIVERIES_UNNEST` unnests."""
    return (
        [o.device_id for o in group],
        [o.reason[:200] if o.reason else None for o in group],
        [o.message_id[:200] if o.message_id else None for o in group],
        [o.attempts for o in group],
    )


def sqlite_rows(group: Sequence[Outcome]) -> str:
    """The JSON array that :data:`INSERT_DELIVERIES_JSON` inserts from."""
    return json.dumps([
        (o.device_id, o.reason[:200] if o.reason else None,
         o.message_id[:200] if o.message_id else None, o.attempts)
        for o in group
    ])


def _insert_deliveries(
    connection: Connection, send_id: str, provider: str, status: str, group: list[Outcome], now: datetime
) -> int:
    if connection.dialect.name == "postgresql":
        return connection.exec_driver_sql(
            INSERT_DELIVERIES_UNNEST, (send_id, status, provider, now, *postgres_columns(group))
        ).rowcount
    return connection.exec_driver_sql(
        INSERT_DELIVERIES_JSON, (send_id, status, provider, sqlite_timestamp(now), sqlite_rows(group))
    ).rowcount


# SQLite: the rows travel as one JSON array and are inserted by one step of one
# statement. An executemany steps once per row, and the sqlite3 module releases and
# re-takes the GIL around every step; while the event loop holds the GIL, each
# re-take waits, so a 500-row executemany took tens of milliseconds in the server.
# ("WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.)
INSERT_DELIVERIES_JSON = (
    "INSERT INTO deliveries (send_id, status, provider, updated_at, device_id, reason, message_id, attempts) "
    "SELECT ?, ?, ?, ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
    " json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(?) WHERE true"
    " ON CONFLICT (send_id, device_id) DO NOTHING"
)
INSERT_DELIVERIES_UNNEST = (
    "INSERT INTO deliveries (send_id, status, provider, updated_at, device_id, reason, message_id, attempts) "
    "SELECT %s, %s, %s, %s, d, r, m, a FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::int[])"
    " AS t(d, r, m, a) ON CONFLICT (send_id, device_id) DO NOTHING"
)
# Enum members and their plain strings both map to the plain string the driver binds.
_STATUS_TEXT: dict[str, str] = {status: status.value for status in DeliveryStatus}


# The counters move by the rows inserted, and the send is done when nothing is
# pending after fan-out finished (status "sending"). In an UPDATE, every
# right-hand side reads the row as it was, on both databases.
_FINISHING = (
    f"status = '{SendStatus.SENDING.value}'"
    " AND targeted <= sent + failed + dead + expired + cancelled + {p}"
)
_COUNTERS = (
    "UPDATE sends SET sent = sent + {p}, failed = failed + {p}, dead = dead + {p},"
    " expired = expired + {p}, cancelled = cancelled + {p}, updated_at = {p},"
    f" status = CASE WHEN {_FINISHING} THEN '{SendStatus.DONE.value}' ELSE status END,"
    f" finished_at = CASE WHEN {_FINISHING} THEN {{p}} ELSE finished_at END"
    " WHERE id = {p}"
)
ADD_TO_COUNTERS_SQLITE = _COUNTERS.format(p="?")
ADD_TO_COUNTERS_POSTGRES = _COUNTERS.format(p="%s")
_COUNTED = tuple(status.value for status in (
    DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.EXPIRED,
    DeliveryStatus.CANCELLED,
))


def counter_parameters(send_id: str, counts: Mapping[str, int], stamp: Any) -> tuple[Any, ...]:
    """The parameters of ``ADD_TO_COUNTERS_*`` (``stamp``: ``now`` as the driver binds it)."""
    total = sum(counts.values())
    return (*(counts.get(status, 0) for status in _COUNTED), stamp, total, total, stamp, send_id)


def _add_to_counters(connection: Connection, send_id: str, counts: Counter[str], now: datetime) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(ADD_TO_COUNTERS_POSTGRES, counter_parameters(send_id, counts, now))
    else:
        stamp = sqlite_timestamp(now)
        connection.exec_driver_sql(ADD_TO_COUNTERS_SQLITE, counter_parameters(send_id, counts, stamp))


__all__ = [
    "ADD_TO_COUNTERS_POSTGRES",
    "ADD_TO_COUNTERS_SQLITE",
    "INSERT_DELIVERIES_JSON",
    "INSERT_DELIVERIES_UNNEST",
    "Outcome",
    "counter_parameters",
    "group_by_status",
    "postgres_columns",
    "record_outcomes",
    "record_outcomes_on",
    "sqlite_rows",
]
