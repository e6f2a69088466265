"""The sender's outcome writes, on one dedicated driver connection.

Why not a session per batch like the rest of the registry: a worker commits
a batch of outcomes every few milliseconds, and how often it may commit
decides how much a ``kill -9`` re-sends (docs/architecture.md §6: a device's
window slot is held until its outcome is durable). Through an ORM session
or a Core connection, a batch pays about 270 µs of CPU before its first
row — pool checkout, the ``begin`` event, statement caching, parameter
processing, reset on return — against about 70 µs on the driver directly
(SQLite, measured by ``bench/outcome_writes.py``). At the same CPU per
delivery, a writer that commits four times as often keeps a quarter as
much in flight.

The statements are the ones :mod:`pushgate.registry.outcomes` runs (the
same inserts, the same counter update written as SQL text), so both paths
count exactly the rows inserted and finish a send the same way. A batch
that reports dead tokens goes through the session path, which also
deactivates their devices: rare enough that its cost does not matter.

Not thread-safe: one writer per recorder, which writes one batch at a time.
A failed batch discards the connection; the next batch opens a new one
(a restarted PostgreSQL, a closed SQLite file).

A batch updates the counters of every send it holds outcomes for, locking
those ``sends`` rows until it commits. Workers write concurrently, so each
batch takes the rows in one order, by send id: two batches that locked the
same two sends in opposite orders would deadlock, and PostgreSQL would abort
one of them ("The best defense against deadlocks is generally to avoid them
by being certain that all applications using a database acquire locks on
multiple objects in a consistent order",
https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-DEADLOCKS).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pushgate.registry._types import sqlite_timestamp
from pushgate.registry.db import Database
from pushgate.registry.dead import DeadToken, deactivate_devices
from pushgate.registry.models import utcnow
from pushgate.registry.outcomes import (
    ADD_TO_COUNTERS_POSTGRES,
    ADD_TO_COUNTERS_SQLITE,
    INSERT_DELIVERIES_JSON,
    INSERT_DELIVERIES_UNNEST,
    Outcome,
    counter_parameters,
    group_by_status,
    postgres_columns,
    record_outcomes,
    sqlite_rows,
)
from pushgate.registry.sqlite_lock import begin_immediate
from pushgate.registry.webhook_capture import (
    HAS_WEBHOOKS_POSTGRES,
    HAS_WEBHOOKS_SQLITE,
    WEBHOOK_LOOKUP_SECONDS,
    capture_postgres,
    capture_sqlite,
)

_MAX_REMEMBERED = 10_000  # sends whose webhook lookup is kept; older lookups are dropped past it


class OutcomeWriter:
    """Writes batches of final outcomes in one transaction each (see the module docstring)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self._sqlite = db.is_sqlite
        self._connection: Any = None  # the pool's proxy of one driver connection
        self._clock = clock
        self._hooked: dict[str, tuple[float, bool]] = {}  # send id -> (looked up at, app has webhooks)

    def write(
        self,
        outcomes: Mapping[tuple[str, str], Sequence[Outcome]],
        dead: Sequence[DeadToken] = (),
        then: Callable[[Any], object] | None = None,
    ) -> None:
        """Record ``outcomes`` (keyed by send id and provider) and their counters, durably.

        ``then``, when given, runs last in the same transaction, on its DB-API cursor: the
        workers mark the jobs whose outcomes these are done there (``Queue.completion_step``).
        """
        if dead:
            with self.db.session() as session:
                stamps = {d.device_id: d.provider_timestamp for d in dead if d.provider_timestamp is not None}
                for send_id, provider in sorted(outcomes):  # lock order: the module docstring
                    record_outcomes(session, send_id, provider, outcomes[send_id, provider],
                                    provider_timestamps=stamps)
                deactivate_devices(session, dead)
                if then is not None:
                    cursor = session.connection().connection.cursor()
                    try:
                        then(cursor)
                    finally:
                        cursor.close()
            return
        connection = self._connection or self._open()
        cursor = connection.cursor()
        try:
            if self._sqlite:  # the driver is in autocommit mode (registry/db.py): BEGIN is ours
                begin_immediate(cursor, self.db.busy_timeout)  # registry/sqlite_lock.py
            now = utcnow()
            for send_id, provider in sorted(outcomes):  # lock order: the module docstring
                self._record(cursor, send_id, provider, outcomes[send_id, provider], now)
            if then is not None:  # after the sends' rows: the lock order stays sends, then jobs
                then(cursor)
            connection.commit()
        except BaseException:
            self._discard()
            raise
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def close(self) -> None:
        """Hand the connection back to the pool."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                connection.close()

    def _record(
        self, cursor: Any, send_id: str, provider: str, group: Sequence[Outcome], now: datetime
    ) -> None:
        counts: dict[str, int] = {}
        stamp: Any = sqlite_timestamp(now) if self._sqlite else now
        hooked = self._has_webhooks(cursor, send_id)
        for status, rows in group_by_status(group).items():
            if self._sqlite:
                data = sqlite_rows(rows)
                cursor.execute(INSERT_DELIVERIES_JSON, (send_id, status, provider, stamp, data))
                counts[status] = max(cursor.rowcount, 0)
                if hooked and counts[status]:  # the webhook events of these outcomes, in this transaction
                    capture_sqlite(cursor, send_id, provider, status, data, stamp)
            else:
                columns = postgres_columns(rows)
                cursor.execute(INSERT_DELIVERIES_UNNEST, (send_id, status, provider, stamp, *columns))
                counts[status] = max(cursor.rowcount, 0)
                if hooked and counts[status]:
                    capture_postgres(cursor, send_id, provider, status, columns[0], columns[1], stamp)
        if any(counts.values()):
            statement = ADD_TO_COUNTERS_SQLITE if self._sqlite else ADD_TO_COUNTERS_POSTGRES
            cursor.execute(statement, counter_parameters(send_id, counts, stamp))

    def _has_webhooks(self, cursor: Any, send_id: str) -> bool:
        """Whether the send's app has an enabled webhook, looked up once per send and second.

        Why not run the capture statement every batch: it finds nothing for
        most sends and still costs a statement per batch (``bench/outcome_writes.py
        --webhooks``). The price of the cache: outcomes recorded in the first
        ``WEBHOOK_LOOKUP_SECONDS`` after an app's first webhook was created may
        not become events (docs/webhooks.md §2). A stale "yes" costs only the
        statement: it filters on the webhooks themselves.
        """
        now = self._clock()
        known = self._hooked.get(send_id)
        if known is not None and now - known[0] < WEBHOOK_LOOKUP_SECONDS:
            return known[1]
        cursor.execute(HAS_WEBHOOKS_SQLITE if self._sqlite else HAS_WEBHOOKS_POSTGRES, (send_id,))
        hooked = cursor.fetchone() is not None
        if len(self._hooked) >= _MAX_REMEMBERED:
            self._hooked = {k: v for k, v in self._hooked.items() if now - v[0] < WEBHOOK_LOOKUP_SECONDS}
        self._hooked[send_id] = (now, hooked)
        return hooked

    def _open(self) -> Any:
        self._connection = self.db.engine.raw_connection()
        return self._connection

    def _discard(self) -> None:
        """After a failure the connection's state is unknown: roll back, and never reuse it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            connection.rollback()
        with contextlib.suppress(Exception):
            connection.invalidate()


__all__ = ["OutcomeWriter"]
