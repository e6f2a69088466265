"""The embedded queue: one ``jobs`` table in the registry's SQLite file or PostgreSQL.

Claiming is a ``SELECT … LIMIT n`` of due jobs per tier of queues, then one
``UPDATE … WHERE id IN (…) RETURNING …``, in one transaction of SQL text on
the driver connection (:mod:`pushgate.queue.sql_claim`, which says why):

- on PostgreSQL the inner SELECT takes ``FOR UPDATE SKIP LOCKED``, so
  concurrent claimers (threads or processes) skip rows another claimer is
  taking instead of waiting for it, and never get the same job;
- on SQLite (≥ 3.35 for RETURNING) the transaction starts with ``BEGIN
  IMMEDIATE`` (see :class:`~pushgate.registry.db.Database`): claimers
  serialise on the database's write lock, which is safe across processes
  sharing the file.

``due_at`` is when a job can next be claimed: its run-at while queued, its
lease expiry while leased. One partial index ``(queue, due_at) WHERE status
IN ('queued', 'leased')`` therefore serves claims, the reclaim of expired
leases and depth. Queries repeat that exact predicate text, which is what
lets SQLite use a partial index.

Finished jobs stay as ``done`` until :meth:`SqlQueue.purge`, so a duplicate
enqueue soon after completion is still ignored.

On PostgreSQL, once a transaction that made jobs due now (an enqueue, a job
handed back, a reschedule or requeue to now) has committed, the process's
notifier tells the worker processes, which listen instead of looking at the
claim index (:mod:`pushgate.queue.sql_notify`). The transaction itself never
notifies: PostgreSQL would commit it under a cluster-wide lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from pushgate.queue import sql_claim, sql_notify
from pushgate.queue.at_commit import at_commit
from pushgate.queue.base import (
    ClaimedJob,
    ClaimTier,
    Clock,
    CompletionStep,
    DueCheck,
    DueListener,
    Job,
    JobInfo,
    JobStatus,
    Queue,
    QueueStats,
    system_clock,
)
from pushgate.queue.tables import ACTIVE as _ACTIVE
from pushgate.queue.tables import jobs_table
from pushgate.registry.db import Database, insert_ignoring

LEASE_EXPIRED_ON_LAST_TRY = sql_claim.LEASE_EXPIRED_ON_LAST_TRY
_j = jobs_table.c


class SqlQueue(Queue):
    """:class:`Queue` on the registry's database. Thread-safe; one per process is enough."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        # Shared by every SqlQueue of the process on this database: one thread and connection.
        self._notifier = None if db.is_sqlite else sql_notify.notifier(db)
        # has_due reads the claim index: on SQLite a WAL read of a local file, which never
        # waits for the writer; on PostgreSQL a round trip.
        self.due_check: DueCheck = "inline" if db.is_sqlite else "thread"

    def enqueue(self, jobs: Sequence[Job]) -> int:
        now = self.clock()
        rows = self._rows(jobs, now)
        if not rows:
            return 0
        with self.db.connect() as connection:
            new, due = self._insert(connection, rows, now)
        self._notify(due)  # committed: a listener's claim finds the jobs
        return new

    def enqueue_with(self, transaction: Session | Connection, jobs: Sequence[Job]) -> int:
        """Write the rows on the caller's connection: they commit or roll back with it.

        The transaction must be on this queue's database (the embedded queue
        lives in the registry's); anything else is a wiring error.
        """
        connection = transaction.connection() if isinstance(transaction, Session) else transaction
        if connection.engine.url != self.db.engine.url:
            raise ValueError("enqueue_with needs a transaction on the queue's own database")
        now = self.clock()
        rows = self._rows(jobs, now)
        if not rows:
            return 0
        new, due = self._insert(connection, rows, now)
        # A bare Connection has no after-commit hook (no caller passes one): its jobs are found
        # by the workers' periodic claim.
        notifier = self._notifier
        if due and notifier is not None and isinstance(transaction, Session):
            for queue in sorted(due):  # each queue once per transaction, when it commits
                at_commit(transaction, (notifier, queue), partial(notifier.notify, queue))
        return new

    def _rows(self, jobs: Sequence[Job], now: float) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for job in jobs:
            if job.max_tries < 1 or job.size < 0:
                raise ValueError(f"job {job.id!r}: max_tries must be ≥ 1 and size ≥ 0")
            due = now if job.run_at is None else job.run_at
            rows.setdefault(job.id, {
                "id": job.id, "queue": job.queue, "payload": job.payload,
                "status": JobStatus.QUEUED.value, "run_at": due, "due_at": due, "attempts": 0,
                "max_tries": job.max_tries, "size": job.size, "lease_owner": None,
                "last_error": None, "created_at": now, "updated_at": now,
            })
        return list(rows.values())

    def _insert(self, connection: Connection, rows: list[dict[str, Any]], now: float) -> tuple[int, set[str]]:
        """Insert the new rows; how many, and the queues of those due now."""
        statement = insert_ignoring(connection, jobs_table, ["id"]).returning(_j.queue, _j.due_at)
        new = connection.execute(statement, rows).all()
        return len(new), {row.queue for row in new if row.due_at <= now}

    def _notify(self, queues: set[str]) -> None:
        """After the commit that made jobs of ``queues`` due now: on PostgreSQL, wake the workers
        of other processes (:mod:`pushgate.queue.sql_notify`); on SQLite they look at the claim
        index."""
        if self._notifier is not None:
            for queue in queues:
                self._notifier.notify(queue)

    def listen(self, on_due: Callable[[str | None], None]) -> DueListener | None:
        """On PostgreSQL, :class:`~pushgate.queue.sql_notify.JobListener`."""
        return None if self.db.is_sqlite else sql_notify.JobListener(self.db, on_due)

    def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker: str
    ) -> list[ClaimedJob]:
        if not queues or limit < 1:
            return []
        return self.claim_tiers([ClaimTier(tuple(queues))], limit=limit, lease_seconds=lease_seconds,
                                worker=worker)

    def claim_tiers(
        self, tiers: Sequence[ClaimTier], *, limit: int, reserved: int = 0, lease_seconds: float,
        worker: str,
    ) -> list[ClaimedJob]:
        """Every tier in one transaction, on the driver connection (:mod:`pushgate.queue.sql_claim`)."""
        now = self.clock()
        return sql_claim.claim_tiers(self.db, tiers, limit=limit, reserved=reserved, now=now,
                                     until=now + lease_seconds, worker=worker)

    def has_due(self, queues: Sequence[str]) -> bool:
        return bool(queues) and sql_claim.has_due(self.db, queues, self.clock())

    def complete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return sql_claim.complete(self.db, list(ids), self.clock())

    def completion_step(self, db: Database) -> CompletionStep | None:
        if db.engine.url != self.db.engine.url:  # as enqueue_with: the jobs live in this database
            return None
        postgres = not self.db.is_sqlite

        def step(cursor: Any, ids: Sequence[str]) -> int:
            return sql_claim.complete_on(cursor, postgres, ids, self.clock()) if ids else 0

        return step

    def retry(self, job_id: str, *, reason: str, run_at: float | None = None) -> bool:
        now = self.clock()
        out_of_tries = _j.attempts >= _j.max_tries
        with self.db.connect() as connection:
            row = connection.execute(
                update(jobs_table)
                .where(_j.id == job_id, text(_ACTIVE))
                .values(
                    status=case((out_of_tries, JobStatus.FAILED.value), else_=JobStatus.QUEUED.value),
                    due_at=now if run_at is None else run_at,
                    lease_owner=None, last_error=reason, updated_at=now,
                )
                .returning(_j.status, _j.queue)
            ).one_or_none()
        if row is None or row.status != JobStatus.QUEUED:
            return False
        if run_at is None or run_at <= now:
            self._notify({row.queue})  # handed back: another process may take it
        return True

    def reschedule(self, queue: str, *, run_at: float, id_suffix: str = "", id_prefix: str = "") -> int:
        condition = and_(
            text(_ACTIVE), _j.status == JobStatus.QUEUED.value, _j.queue == queue, _j.due_at > run_at
        )
        if id_suffix:
            condition = and_(condition, _j.id.endswith(id_suffix, autoescape=True))
        if id_prefix:
            condition = and_(condition, _j.id.startswith(id_prefix, autoescape=True))
        now = self.clock()
        with self.db.connect() as connection:
            result = connection.execute(
                update(jobs_table).where(condition).values(due_at=run_at, run_at=run_at, updated_at=now)
            )
            moved = max(result.rowcount, 0)
        if moved and run_at <= now:
            self._notify({queue})
        return moved

    def fail(self, job_id: str, reason: str) -> bool:
        with self.db.connect() as connection:
            result = connection.execute(
                update(jobs_table)
                .where(_j.id == job_id, text(_ACTIVE))
                .values(status=JobStatus.FAILED.value, lease_owner=None, last_error=reason,
                        updated_at=self.clock())
            )
            return result.rowcount > 0

    def extend(self, ids: Sequence[str], lease_seconds: float, *, worker: str | None = None) -> list[str]:
        if not ids:
            return []
        now = self.clock()
        condition = and_(_j.id.in_(list(ids)), text(_ACTIVE), _j.status == JobStatus.LEASED.value)
        if worker is not None:
            condition = and_(condition, _j.lease_owner == worker)
        with self.db.connect() as connection:
            rows = connection.execute(
                update(jobs_table)
                .where(condition)
                .values(due_at=now + lease_seconds, updated_at=now)
                .returning(_j.id)
            ).all()
        return [row.id for row in rows]

    def depth(self, queue: str | None = None) -> int:
        query = select(func.coalesce(func.sum(_j.size), 0)).where(text(_ACTIVE))
        if queue is not None:
            query = query.where(_j.queue == queue)
        with self.db.connect(write=False) as connection:
            return int(connection.execute(query).scalar_one())

    def depths(self) -> dict[str, int]:
        query = select(_j.queue, func.sum(_j.size)).where(text(_ACTIVE)).group_by(_j.queue)
        with self.db.connect(write=False) as connection:
            return {queue: int(items) for queue, items in connection.execute(query)}

    def stats(self) -> dict[str, QueueStats]:
        now = self.clock()
        due = case((_j.due_at <= now, 1), else_=0)
        query = select(_j.queue, _j.status, due, func.count(), func.sum(_j.size)).group_by(
            _j.queue, _j.status, due
        )
        out: dict[str, QueueStats] = {}
        with self.db.connect(write=False) as connection:
            for queue, status, is_due, count, items in connection.execute(query):
                stats = out.setdefault(queue, QueueStats())
                if status == JobStatus.QUEUED:
                    stats.ready += count if is_due else 0
                    stats.scheduled += 0 if is_due else count
                elif status == JobStatus.LEASED:
                    stats.leased += count
                    stats.expired += count if is_due else 0
                elif status == JobStatus.DONE:
                    stats.done += count
                else:
                    stats.failed += count
                if status in (JobStatus.QUEUED, JobStatus.LEASED):
                    stats.items += int(items or 0)
        return out

    def get(self, job_id: str) -> JobInfo | None:
        with self.db.connect(write=False) as connection:
            row = connection.execute(select(jobs_table).where(_j.id == job_id)).one_or_none()
        return _info(row) if row is not None else None

    def failed_jobs(self, queue: str | None = None, *, limit: int = 100) -> list[JobInfo]:
        query = select(jobs_table).where(_j.status == JobStatus.FAILED.value)
        if queue is not None:
            query = query.where(_j.queue == queue)
        with self.db.connect(write=False) as connection:
            rows = connection.execute(query.order_by(_j.updated_at.desc()).limit(limit)).all()
        return [_info(row) for row in rows]

    def requeue_failed(self, ids: Sequence[str], *, run_at: float | None = None) -> int:
        if not ids:
            return 0
        now = self.clock()
        due = now if run_at is None else run_at
        with self.db.connect() as connection:
            queues = connection.execute(
                update(jobs_table)
                .where(_j.id.in_(list(ids)), _j.status == JobStatus.FAILED.value)
                .values(status=JobStatus.QUEUED.value, attempts=0, run_at=due, due_at=due,
                        lease_owner=None, updated_at=now)
                .returning(_j.queue)
            ).scalars().all()
        if due <= now:
            self._notify(set(queues))
        return len(queues)

    def purge(self, *, older_than: float, include_failed: bool = False) -> int:
        finished = [JobStatus.DONE.value] + ([JobStatus.FAILED.value] if include_failed else [])
        with self.db.connect() as connection:
            result = connection.execute(
                delete(jobs_table).where(_j.status.in_(finished), _j.updated_at < older_than)
            )
            return result.rowcount


def _info(row: Row[Any]) -> JobInfo:
    return JobInfo(
        id=row.id, queue=row.queue, payload=row.payload, status=JobStatus(row.status),
        run_at=float(row.run_at), due_at=float(row.due_at), attempts=row.attempts,
        max_tries=row.max_tries, size=row.size,
        lease_owner=row.lease_owner, last_error=row.last_error, created_at=float(row.created_at),
        updated_at=float(row.updated_at),
    )
