"""The SQL queue's claim and complete, as SQL text on the driver connection.

Why not SQLAlchemy Core like the rest of :mod:`pushgate.queue.sql`: a worker
claims and completes every job, and through Core a claim cost about 1.3 ms
of CPU per tier — building the statements, their cache keys and the
expanding ``IN`` lists — against some 25 µs that SQLite spends executing
them. A broadcast job was claimed after looking at three tiers (fan-out and
direct lanes, webhooks, broadcast lanes), each in a transaction of its own:
about 4.7 ms of CPU per 1,000-device job, 5 to 8% of what sending its devices
costs. Here every tier is looked at in one transaction of plain statements:
0.4 ms (SQLite, a loop of claims on a busy two-core machine; bench scenario
4 end to end: README, Benchmarks).

The statements are the ones the Core version ran: dead-letter the expired
leases that were on their last try, select the due jobs (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on
SQLite), lease them. Each repeats the claim index's predicate text
(:data:`pushgate.queue.tables.ACTIVE`), which is what lets SQLite use the
partial index.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from pushgate.queue.base import ClaimedJob, ClaimTier, JobStatus, TierRooms
from pushgate.queue.tables import ACTIVE
from pushgate.registry.db import Database
from pushgate.registry.sqlite_lock import begin_immediate

LEASE_EXPIRED_ON_LAST_TRY = "lease expired on the last try"
_LEASED = JobStatus.LEASED.value


@lru_cache(maxsize=64)
def _statements(postgres: bool, queues: int, ids: int) -> tuple[str, str, str]:
    """(dead-letter, select due, lease) for ``queues`` queue names and ``ids`` job ids."""
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    names = ", ".join("?" * queues)
    exhausted = (
        f"UPDATE jobs SET status = 'failed', last_error = ?, lease_owner = NULL, updated_at = ?"
        f" WHERE id IN (SELECT id FROM jobs WHERE {ACTIVE} AND queue IN ({names}) AND due_at <= ?"
        f" AND status = 'leased' AND attempts >= max_tries{lock})"
    )
    due = (
        f"SELECT id, status, lease_owner FROM jobs WHERE {ACTIVE} AND queue IN ({names})"
        f" AND due_at <= ? AND (status = 'queued' OR attempts < max_tries)"
        f" ORDER BY due_at LIMIT ?{lock}"
    )
    lease = (
        f"UPDATE jobs SET status = 'leased', due_at = ?, attempts = attempts + 1, lease_owner = ?,"
        f" updated_at = ? WHERE id IN ({', '.join('?' * ids)})"
        f" RETURNING id, queue, payload, run_at, max_tries, size, attempts"
    )
    if postgres:  # psycopg's placeholder
        return tuple(s.replace("?", "%s") for s in (exhausted, due, lease))  # type: ignore[return-value]
    return exhausted, due, lease


@lru_cache(maxsize=64)
def _due_statement(postgres: bool, queues: int) -> str:
    statement = (f"SELECT 1 FROM jobs WHERE {ACTIVE} AND queue IN ({', '.join('?' * queues)})"
                 f" AND due_at <= ? AND (status = 'queued' OR attempts < max_tries) LIMIT 1")
    return statement.replace("?", "%s") if postgres else statement


def has_due(db: Database, queues: Sequence[str], now: float) -> bool:
    """Whether one of ``queues`` holds a job a claim would take now: one read of the claim
    index, without the write lock (SQLite) or a row lock (PostgreSQL)."""
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(_due_statement(not db.is_sqlite, len(queues)), (*queues, now))
            return cursor.fetchone() is not None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
            with contextlib.suppress(Exception):
                connection.rollback()  # PostgreSQL opened a transaction for the read
    finally:
        connection.close()  # back to the pool


@lru_cache(maxsize=64)
def _complete_statement(postgres: bool, ids: int) -> str:
    statement = (f"UPDATE jobs SET status = 'done', lease_owner = NULL, updated_at = ?"
                 f" WHERE id IN ({', '.join('?' * ids)}) AND {ACTIVE}")
    return statement.replace("?", "%s") if postgres else statement


@contextlib.contextmanager
def _write_transaction(db: Database) -> Iterator[Any]:
    """A cursor in a write transaction on a pooled driver connection, committed at the end."""
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            if db.is_sqlite:  # the driver is in autocommit mode (registry/db.py): BEGIN is ours
                begin_immediate(cursor, db.busy_timeout)  # registry/sqlite_lock.py
            yield cursor
            connection.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                connection.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
    finally:
        connection.close()  # back to the pool


def claim_tiers(
    db: Database, tiers: Sequence[ClaimTier], *, limit: int, reserved: int, now: float, until: float,
    worker: str,
) -> list[ClaimedJob]:
    """:meth:`Queue.claim_tiers` in one transaction (see the module docstring)."""
    rooms = TierRooms(limit, reserved)
    if not any(tier.queues and rooms.room(tier) > 0 for tier in tiers):
        return []
    postgres = not db.is_sqlite
    names = [q for tier in tiers if rooms.room(tier) > 0 for q in tier.queues]
    with _write_transaction(db) as cursor:
        # A lease that expired on the last try: the worker died holding it; dead-letter it.
        cursor.execute(_statements(postgres, len(names), 0)[0],
                       (LEASE_EXPIRED_ON_LAST_TRY, now, *names, now))
        chosen: list[list[tuple[str, str, str | None]]] = []  # per tier, oldest due first
        for tier in tiers:
            room = rooms.room(tier)
            if room <= 0 or not tier.queues:
                continue
            cursor.execute(_statements(postgres, len(tier.queues), 0)[1], (*tier.queues, now, room))
            rows = cursor.fetchall()
            rooms.took(tier, len(rows))
            chosen.append(rows)
        ids = [row[0] for rows in chosen for row in rows]
        if not ids:
            return []
        cursor.execute(_statements(postgres, 0, len(ids))[2], (until, worker, now, *ids))
        claimed = {row[0]: row for row in cursor.fetchall()}
    jobs: list[ClaimedJob] = []
    for rows in chosen:  # tier by tier, as the tiers would have been claimed one after another
        tier_jobs = []
        for job_id, status, owner in rows:
            _, queue, payload, run_at, max_tries, size, attempts = claimed[job_id]
            tier_jobs.append(ClaimedJob(
                id=job_id, queue=queue, payload=json.loads(payload) if isinstance(payload, str) else payload,
                run_at=float(run_at), max_tries=max_tries, size=size, attempt=attempts, lease_until=until,
                worker=worker,
                # Still leased when selected: an expired lease taken over; say whose it was.
                reclaimed_from=owner if status == _LEASED else None,
            ))
        tier_jobs.sort(key=lambda job: job.run_at)
        jobs += tier_jobs
    return jobs


def complete(db: Database, ids: Sequence[str], now: float) -> int:
    """Mark ``ids`` done; how many were still queued or leased."""
    with _write_transaction(db) as cursor:
        return complete_on(cursor, not db.is_sqlite, ids, now)


def complete_on(cursor: Any, postgres: bool, ids: Sequence[str], now: float) -> int:
    """Mark ``ids`` done with ``cursor``, in the transaction it is in (committed by its owner)."""
    cursor.execute(_complete_statement(postgres, len(ids)), (now, *ids))
    return max(int(cursor.rowcount), 0)


__all__ = ["LEASE_EXPIRED_ON_LAST_TRY", "claim_tiers", "complete", "complete_on"]
