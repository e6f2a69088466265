"""The transactional outbox of a queue that lives outside the registry database.

``Queue.enqueue_with`` promises: jobs handed over inside the caller's
transaction exist when it commits and never if it rolls back. Redis cannot
join a PostgreSQL or SQLite transaction, so :class:`RedisQueue
<pushgate.queue.redis_streams.RedisQueue>` writes the jobs as rows of the
``queue_outbox`` table on the caller's connection, and an :class:`OutboxRelay`
moves committed rows into Redis and deletes them (docs/scale-out.md §3):

- right after the caller's session commits its outermost transaction
  (:mod:`pushgate.queue.at_commit`), that transaction's rows, so a send
  reaches the workers in milliseconds;
- and by a background thread every ``interval`` seconds in every process
  that holds the queue (API and workers), which moves whatever a crash, a
  Redis outage or a plain ``Connection`` transaction left behind.

Moving is at least once: the rows are deleted in the same database
transaction that selected them (on SQLite: in a transaction of their own),
after Redis stored the jobs. A crash in between leaves the rows, the next
run enqueues them again, and the queue's idempotent enqueue (by job id)
ignores the copies. On PostgreSQL the relays of several processes skip each
other's rows (``FOR UPDATE SKIP LOCKED``).

The table is declared on the registry's ``Base`` like the embedded queue's
``jobs`` (see :mod:`pushgate.queue.tables`): one metadata, one migration
history, and only :mod:`pushgate.queue` queries it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Double,
    Integer,
    Select,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, Session, mapped_column

from pushgate.queue.at_commit import at_commit
from pushgate.queue.base import Clock, Job, system_clock
from pushgate.registry import Database
from pushgate.registry._types import BigId
from pushgate.registry.models import Base

logger = logging.getLogger("pushgate.queue")

RELAY_INTERVAL = 1.0  # seconds between the background relay's polls
RELAY_BATCH = 500  # rows per relay transaction


class OutboxRow(Base):
    """A job committed with the caller's transaction and not yet moved into the queue."""

    __tablename__ = "queue_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(255))
    queue: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_at: Mapped[float | None] = mapped_column(Double)  # None: due when written
    max_tries: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)


def _core_table() -> Table:
    table = OutboxRow.__table__
    assert isinstance(table, Table)
    return table


outbox_table = _core_table()
_o = outbox_table.c

Deliver = Callable[[Sequence[Job]], int]  # stores jobs in the queue, idempotent by id


class OutboxRelay:
    """Writes jobs to the outbox and moves committed ones into the queue (``deliver``)."""

    def __init__(
        self,
        db: Database,
        deliver: Deliver,
        *,
        clock: Clock = system_clock,
        interval: float = RELAY_INTERVAL,
        batch: int = RELAY_BATCH,
    ) -> None:
        self.db = db
        self.deliver = deliver
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.moved = 0  # rows moved by this relay (tests and logs)
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def write(self, transaction: Session | Connection, jobs: Sequence[Job]) -> int:
        """Insert ``jobs`` on the caller's transaction; a session's commit relays them at once."""
        connection = transaction.connection() if isinstance(transaction, Session) else transaction
        if connection.engine.url != self.db.engine.url:
            raise ValueError("enqueue_with needs a transaction on the queue's own database (its outbox)")
        if not jobs:
            return 0
        now = self.clock()
        rows = [
            {"job_id": job.id, "queue": job.queue, "payload": job.payload, "run_at": job.run_at,
             "max_tries": job.max_tries, "size": job.size, "created_at": now}
            for job in jobs
        ]
        ids = [row.id for row in connection.execute(insert(outbox_table).returning(_o.id), rows)]
        if isinstance(transaction, Session):
            # Once the outermost transaction committed the rows are visible to a new connection;
            # a rollback relays nothing, and rows a rolled-back savepoint wrote are not found.
            at_commit(transaction, (self, ids[0]), partial(self._relay_now, ids))
        else:
            self._wake.set()  # no after-commit hook on a Connection: the thread polls soon
        return len(jobs)

    def _relay_now(self, ids: list[int]) -> None:
        try:
            self._move(select(outbox_table).where(_o.id.in_(ids)))
        except Exception as exc:  # the background relay moves them later
            logger.warning("relaying %d committed jobs failed (%s); retrying in the background",
                           len(ids), type(exc).__name__)
            self._wake.set()

    def relay_pending(self) -> int:
        """Move every committed outbox row into the queue; returns how many rows moved."""
        total = 0
        while True:
            moved = self._move(select(outbox_table).order_by(_o.id).limit(self.batch))
            total += moved
            if moved < self.batch:
                return total

    def _move(self, query: Select[Any]) -> int:
        if self.db.is_sqlite:
            # SQLite has one write lock for the whole file: read, store in Redis, and only
            # then take the lock to delete, so a slow or absent Redis never stalls the API.
            with self.db.connect(write=False) as connection:
                rows = connection.execute(query).all()
            if rows:
                self.deliver(_jobs(rows))
                with self.db.connect() as connection:
                    connection.execute(delete(outbox_table).where(_o.id.in_([row.id for row in rows])))
        else:
            with self.db.connect() as connection:  # row locks: other relays skip these rows
                rows = connection.execute(query.with_for_update(skip_locked=True)).all()
                if rows:
                    self.deliver(_jobs(rows))
                    connection.execute(delete(outbox_table).where(_o.id.in_([row.id for row in rows])))
        self.moved += len(rows)
        return len(rows)

    def pending(self) -> int:
        """Rows waiting to be moved (tests, operators)."""
        with self.db.connect(write=False) as connection:
            return int(connection.execute(select(func.count()).select_from(outbox_table)).scalar_one())

    # --- the background thread ---

    def start(self) -> None:
        """Poll the outbox every ``interval`` seconds on a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="pushgate-outbox-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current pass, then move what is left once more."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join()
        try:
            self.relay_pending()
        except Exception as exc:
            logger.warning("relaying the outbox at shutdown failed (%s); the next process moves it",
                           type(exc).__name__)

    def _run(self) -> None:
        while not self._stopping:
            try:
                moved = self.relay_pending()
            except Exception as exc:  # Redis or the database is away: try again next round
                logger.warning("outbox relay failed (%s: %s); retrying in %.0f s",
                               type(exc).__name__, exc, self.interval)
            else:
                if moved:
                    logger.info("outbox relay moved %d jobs", moved)
            self._wake.wait(self.interval)
            self._wake.clear()


def _jobs(rows: Sequence[Row[Any]]) -> list[Job]:
    return [
        Job(row.job_id, row.queue, row.payload, run_at=row.created_at if row.run_at is None else row.run_at,
            max_tries=row.max_tries, size=row.size)
        for row in rows
    ]


__all__ = ["RELAY_BATCH", "RELAY_INTERVAL", "OutboxRelay", "OutboxRow", "outbox_table"]
