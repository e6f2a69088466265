"""Retention: what the registry forgets, in small steps that never stall sending.

Why: the deliveries table grows by one row per device per send — a daily
broadcast to 1,000,000 devices is 365 million rows a year — while what an
app reads about a finished send is its counters (``sends.sent``, ``failed``
…), which live on the send row and are kept. So:

- the delivery rows of a send that **finished** (``done`` or ``cancelled``)
  more than ``deliveries_days`` ago are deleted; the send and its counters
  stay, and ``GET /v1/sends/{id}`` keeps answering;
- a device **inactive** (a provider said its token is dead, or the app
  deactivated it) for more than ``inactive_devices_days`` is deleted, as
  django-push-notifications' ``prune`` command does by hand.

Each call deletes at most ``batch`` rows in one short transaction (one
send's primary-key range, or one set of device ids), so on SQLite the write
lock is held for milliseconds at a time and the outcome writer's commits
interleave; the caller (workers housekeeping) loops over calls with a time
budget and yields between them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, exists, false, select

from pushgate.registry.constants import SendStatus
from pushgate.registry.db import Database
from pushgate.registry.models import deliveries_table, devices_table, sends_table

DEFAULT_BATCH = 5000
_FINISHED = (SendStatus.DONE.value, SendStatus.CANCELLED.value)
_s, _r, _d = sends_table.c, deliveries_table.c, devices_table.c


def purge_deliveries(db: Database, *, finished_before: datetime, batch: int = DEFAULT_BATCH) -> int:
    """Delete up to ``batch`` delivery rows of one send that finished before ``finished_before``.

    Returns how many were deleted (0: nothing left to purge).
    """
    with db.connect() as connection:
        send_id = connection.execute(
            select(_s.id)
            .where(_s.status.in_(_FINISHED), _s.finished_at < finished_before,
                   exists().where(_r.send_id == _s.id))
            .order_by(_s.finished_at)
            .limit(1)
        ).scalar()
        if send_id is None:
            return 0
        return _delete_first(connection, send_id, batch)


def _delete_first(connection: Connection, send_id: str, batch: int) -> int:
    """The send's first ``batch`` rows by primary key: a range delete on its B-tree."""
    last = connection.execute(
        select(_r.device_id).where(_r.send_id == send_id).order_by(_r.device_id).offset(batch - 1).limit(1)
    ).scalar()
    condition = _r.send_id == send_id
    if last is not None:
        condition = condition & (_r.device_id <= last)
    return max(connection.execute(delete(deliveries_table).where(condition)).rowcount, 0)


def prune_inactive_devices(db: Database, *, inactive_before: datetime, batch: int = DEFAULT_BATCH) -> int:
    """Delete up to ``batch`` devices inactive since before ``inactive_before``.

    "Since": the device's last change (``updated_at``), which deactivation sets.
    Their tags go with them (``ON DELETE CASCADE``); their delivery rows are kept
    until their sends' retention purges them.
    """
    with db.connect() as connection:
        ids = list(connection.execute(
            select(_d.id).where(_d.active == false(), _d.updated_at < inactive_before)
            .order_by(_d.id).limit(batch)
        ).scalars())
        if not ids:
            return 0
        # Re-checked in the DELETE: a device re-registered meanwhile is active again.
        return max(connection.execute(
            delete(devices_table).where(_d.id.in_(ids), _d.active == false())
        ).rowcount, 0)


__all__ = ["DEFAULT_BATCH", "prune_inactive_devices", "purge_deliveries"]
