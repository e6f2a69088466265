"""Event batches, the sends they become, and the per-device texts of those sends.

A batch is stored (status ``queued``) in the same transaction as its job,
so a 202 means the events are durable. The worker decides the whole batch
in one transaction: the cooldown and cap rows it takes, the event sends
(one per message of the batch, status ``sending``, counters as for any
send), each device's rendered text, the failed outcomes of what could not
be rendered, the delivery jobs and the batch's ``done`` mark commit
together. A crash before the commit leaves the batch ``queued`` and its job
runs again from the start; after it, the job finds the batch done.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from pushgate.registry._types import sqlite_timestamp, utcnow
from pushgate.registry.catalog.tables import event_batches_table
from pushgate.registry.constants import SendStatus
from pushgate.registry.db import Database
from pushgate.registry.models import sends_table

_b = event_batches_table.c
BATCH_QUEUED = "queued"
BATCH_DONE = "done"


@dataclass(frozen=True, slots=True)
class BatchView:
    id: str
    app_id: int
    status: str
    events: int
    outcome: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A batch as the worker reads it: events as ``[user, event id, epoch seconds, params]``."""

    id: str
    app_id: int
    status: str
    events: list[list[Any]]


def store_batch(connection: Connection, app_id: int, events: Sequence[Sequence[Any]], *,
                now: datetime | None = None) -> str:
    """Insert a batch (the caller's transaction also enqueues its job); returns its id."""
    batch_id = str(uuid.uuid4())
    connection.execute(event_batches_table.insert().values(
        id=batch_id, app_id=app_id, events=list(events), size=len(events), status=BATCH_QUEUED,
        outcome=None,
        created_at=now or utcnow(), finished_at=None,
    ))
    return batch_id


def load_batch(db: Database, batch_id: str) -> StoredBatch | None:
    with db.connect(write=False) as connection:
        row = connection.execute(
            select(_b.id, _b.app_id, _b.status, _b.events).where(_b.id == batch_id)).first()
    return None if row is None else StoredBatch(row.id, row.app_id, row.status, row.events)


def get_batch(db: Database, app_id: int, batch_id: str) -> BatchView | None:
    """A batch of the app (None when missing or another app's)."""
    with db.connect(write=False) as connection:
        row = connection.execute(select(
            _b.id, _b.app_id, _b.status, _b.size, _b.outcome, _b.created_at, _b.finished_at,
        ).where(_b.id == batch_id, _b.app_id == app_id)).first()
    if row is None:
        return None
    return BatchView(row.id, row.app_id, row.status, row.size, row.outcome, row.created_at, row.finished_at)


def claim_batch(connection: Connection, batch_id: str) -> bool:
    """Lock the batch for deciding it in this transaction; False when it is done already (or gone).

    A no-op update takes the row lock on PostgreSQL (SQLite holds the database's
    write lock already), so two runs of the same job cannot both decide it.
    """
    done = connection.execute(update(event_batches_table).where(_b.id == batch_id, _b.status == BATCH_QUEUED)
                              .values(status=BATCH_QUEUED))
    return bool(done.rowcount)


def finish_batch(connection: Connection, batch_id: str, outcome: Mapping[str, Any], *,
                 now: datetime | None = None) -> None:
    """Mark the batch decided, with what became of it; its events are dropped (``size`` keeps the count).

    They are needed only until this transaction commits: the decision, the
    sends and their jobs commit with it.
    """
    connection.execute(update(event_batches_table).where(_b.id == batch_id).values(
        status=BATCH_DONE, outcome=dict(outcome), finished_at=now or utcnow(), events=[]))


def create_event_send(connection: Connection, app_id: int, notification: Mapping[str, Any],
                      target: Mapping[str, Any], targeted: int, *, now: datetime | None = None) -> str:
    """Store an event send: already fanned out (``sending``), ``targeted`` devices; returns its id."""
    now = now or utcnow()
    send_id = str(uuid.uuid4())
    connection.execute(sends_table.insert().values(
        id=send_id, app_id=app_id, notification=dict(notification), target=dict(target),
        status=SendStatus.SENDING.value if targeted else SendStatus.DONE.value, send_at=None,
        created_at=now, updated_at=now, finished_at=None if targeted else now, targeted=targeted, sent=0,
        failed=0, dead=0, expired=0, cancelled=0, audience=targeted, direct=True, fanout_state=None,
        idempotency_key=None, request_hash="event", response=None,
    ))
    return send_id


def insert_texts(connection: Connection, send_id: str, rows: Iterable[tuple[int, str, str]]) -> None:
    """The rendered ``(device id, title, body)`` of an event send's devices."""
    items = list(rows)
    if not items:
        return
    if connection.dialect.name == "postgresql":
        ids, titles, bodies = (list(column) for column in zip(*items, strict=True))
        connection.exec_driver_sql(
            "INSERT INTO event_texts (send_id, device_id, title, body) SELECT %s, d, t, b"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS x(d, t, b) ON CONFLICT DO NOTHING",
            (send_id, ids, titles, bodies))
        return
    connection.exec_driver_sql(
        "INSERT INTO event_texts (send_id, device_id, title, body) SELECT ?, json_extract(value, '$[0]'),"
        " json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?) WHERE true"
        " ON CONFLICT DO NOTHING", (send_id, json.dumps(items)))


def load_texts(db: Database, send_id: str, device_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Device id → (title, body) of an event send, for a delivery job's devices."""
    if not device_ids:
        return {}
    with db.connect(write=False) as connection:
        if connection.dialect.name == "postgresql":
            rows = connection.exec_driver_sql(
                "SELECT device_id, title, body FROM event_texts WHERE send_id = %s"
                " AND device_id = ANY(%s::bigint[])", (send_id, list(device_ids))).all()
            return {row[0]: (row[1], row[2]) for row in rows}
        # One row of three JSON arrays (see registry.chunks: one step instead of one per row; flat
        # arrays decode faster than one small array per device, and make no list per device).
        ids, titles, bodies = connection.exec_driver_sql(
            "SELECT json_group_array(device_id), json_group_array(title), json_group_array(body)"
            " FROM event_texts WHERE send_id = ? AND device_id IN (SELECT value FROM json_each(?))",
            (send_id, json.dumps(list(device_ids)))).one()
    return dict(zip(json.loads(ids), zip(json.loads(titles), json.loads(bodies), strict=True), strict=True))


def purge_texts(db: Database, *, older_than: datetime) -> int:
    """Delete the texts of event sends that ended before ``older_than``, and of deleted sends.

    A text is only needed until its device's outcome is recorded; the
    outcome rows stay. Returns how many rows were deleted.
    """
    ended = (SendStatus.DONE.value, SendStatus.CANCELLED.value)
    marker = "%s" if db.is_postgresql else "?"
    cutoff: Any = older_than if db.is_postgresql else sqlite_timestamp(older_than)
    with db.connect() as connection:
        done = connection.exec_driver_sql(
            "DELETE FROM event_texts WHERE send_id IN (SELECT DISTINCT t.send_id FROM event_texts t"
            " LEFT JOIN sends s ON s.id = t.send_id WHERE s.id IS NULL"
            f" OR (s.status IN ({marker}, {marker}) AND s.updated_at < {marker}))",
            (*ended, cutoff))
        return int(done.rowcount or 0)


__all__ = [
    "BATCH_DONE",
    "BATCH_QUEUED",
    "BatchView",
    "StoredBatch",
    "claim_batch",
    "create_event_send",
    "finish_batch",
    "get_batch",
    "insert_texts",
    "load_batch",
    "load_texts",
    "purge_texts",
    "store_batch",
]
