"""The durable queue interface, and its job types.

Semantics (the contract every implementation keeps):

- **Idempotent enqueue by id.** Enqueuing a job whose id exists (queued,
  leased, or finished and not yet purged) does nothing; ``enqueue`` returns
  how many were new. Fan-out relies on this to re-run after a crash.
- **Transactional enqueue** (``enqueue_with``): jobs handed over inside the
  caller's open transaction on the registry database are durable when that
  transaction commits and gone if it rolls back — never one without the
  other. The API stores a send and its fan-out job this way, so there is no
  moment where a send exists without its job. How is the implementation's
  business: the SQL queue writes its rows on that very connection; a queue
  in another store (Redis Streams) writes them to an outbox table in the
  same transaction, and a relay moves committed outbox rows into the
  stream (idempotent by job id, so a relay re-run after a crash is
  harmless). Callers never need to know which queue they hold.
- **run_at** defers a job (scheduled sends, backoff); ``None`` means now.
- **Claim with a lease.** ``claim`` hands out jobs whose run-at has come
  and that nobody holds — or whose holder's lease expired (a worker killed
  with ``kill -9`` never completes; its jobs come back when the lease runs
  out; the claim names the previous holder). Each claim counts an attempt.
- **Ack**: ``complete`` marks a claimed job done. A queue whose jobs live in
  the registry's database also offers it as a step of the caller's own
  write transaction (``completion_step``): the workers then mark a job done
  in the transaction that writes its outcomes, one write where there were two.
- **max_tries and dead letters.** A job whose attempts are used up goes to
  status ``failed`` (the dead letters) with the last reason, on ``retry``
  or when its last lease expires; ``fail`` dead-letters at once (a
  permanent error). ``failed_jobs`` lists them, ``requeue_failed`` gives
  them a fresh set of tries.
- **Explicit retry** with a run-at (the worker computes the backoff, or
  honours the provider's Retry-After), **extend** (heartbeat for long jobs),
  and **reschedule** (bring deferred jobs forward).
- **Wake-ups across processes** (optional): ``listen`` hands a worker process
  a listener that says when another process made jobs due (the SQL queue on
  PostgreSQL: ``LISTEN``/``NOTIFY``). A hint only: a missed one costs
  latency, never a job, since workers still claim periodically.
- **Depth is cheap** and counted in work items (``Job.size``: a delivery
  job of 500 devices weighs 500), so the API can apply backpressure
  ("pending deliveries above the bound → 429/503 with Retry-After").

The interface is synchronous. Workers call it through
``asyncio.to_thread``, as they call the registry; the SQL implementation
is sync SQLAlchemy, and a Redis Streams implementation fits the same shape
(``XADD`` with the job id as an idempotency key in a hash, ``XREADGROUP``
for claims, ``XAUTOCLAIM`` for expired leases, a sorted set for run-at)
using redis-py's sync client. One API instead of sync and async twins; the
listener of ``listen`` alone runs in the workers' event loop.

Time comes from an injectable clock (epoch seconds) so tests expire
leases by moving the clock, never by sleeping.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from pushgate.registry.db import Database

Clock = Callable[[], float]
# Marks jobs done with a DB-API cursor in the caller's open write transaction; how many were active.
CompletionStep = Callable[[Any, Sequence[str]], int]
DEFAULT_MAX_TRIES = 10
system_clock: Clock = time.time


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting for its run-at, or claimable
    LEASED = "leased"  # held by a worker until its lease expires
    DONE = "done"  # completed; kept for idempotency until purged
    FAILED = "failed"  # dead letter: out of tries or failed explicitly


@dataclass(slots=True)
class Job:
    """A unit of work to enqueue."""

    id: str  # idempotency key: enqueuing the same id twice stores it once
    queue: str
    payload: dict[str, Any]
    run_at: float | None = None  # epoch seconds; None: now
    max_tries: int = DEFAULT_MAX_TRIES
    size: int = 1  # work items it carries (devices of a delivery job); depth sums it


@dataclass(slots=True)
class ClaimedJob:
    """A job a worker holds until ``lease_until``."""

    id: str
    queue: str
    payload: dict[str, Any]
    run_at: float  # when it was due (queue latency = claim time - run_at)
    max_tries: int
    size: int
    attempt: int  # 1 on the first claim
    lease_until: float
    worker: str
    # The previous holder when this claim took over a lease that expired (a worker that
    # died or stalled); None for a job nobody held. Workers log it.
    reclaimed_from: str | None = None

    @property
    def last_try(self) -> bool:
        """True when a retry would dead-letter the job instead."""
        return self.attempt >= self.max_tries


@dataclass(slots=True)
class JobInfo:
    """A job as stored, for inspection (admin pages, tests)."""

    id: str
    queue: str
    payload: dict[str, Any]
    status: JobStatus
    run_at: float
    due_at: float  # run-at while queued, lease expiry while leased
    attempts: int
    max_tries: int
    size: int
    lease_owner: str | None
    last_error: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class ClaimTier:
    """Queues claimed together, before the tiers after them (the workers' lanes).

    ``reserved``: its jobs may also take the slots a worker keeps for short
    work users wait for (``workers/sender.py``), on top of the ordinary ones.
    """

    queues: tuple[str, ...]
    reserved: bool = False


class TierRooms:
    """How many jobs each tier may still take from ``limit`` ordinary and ``reserved`` slots."""

    __slots__ = ("ordinary", "spare")

    def __init__(self, limit: int, reserved: int) -> None:
        self.ordinary, self.spare = limit, reserved

    def room(self, tier: ClaimTier) -> int:
        return self.ordinary + (self.spare if tier.reserved else 0)

    def took(self, tier: ClaimTier, count: int) -> None:
        """``count`` jobs of ``tier`` were claimed: reserved slots first, where it may use them."""
        in_reserved = min(self.spare, count) if tier.reserved else 0
        self.spare -= in_reserved
        self.ordinary -= count - in_reserved


@dataclass(slots=True)
class QueueStats:
    """Counts of one queue, by state (jobs), plus the pending work items."""

    ready: int = 0  # queued, run-at reached
    scheduled: int = 0  # queued, run-at in the future
    leased: int = 0
    expired: int = 0  # leased, lease ran out (a worker died): claimable again
    done: int = 0
    failed: int = 0
    items: int = 0  # sum of sizes of queued and leased jobs


DueCheck = Literal["claim", "thread", "inline"]


class DueListener(Protocol):
    """Tells a worker process when another process made jobs due (:meth:`Queue.listen`).

    The queue interface's one asynchronous piece: it runs in the workers' event loop.
    """

    @property
    def listening(self) -> bool:
        """True while notifications arrive: polling for new jobs is then unneeded."""

    def start(self) -> None:
        """Start listening in the running event loop."""

    async def aclose(self) -> None:
        """Stop listening and release the connection."""


class Queue(ABC):
    """A durable job queue; see the module docstring for the contract."""

    @abstractmethod
    def enqueue(self, jobs: Sequence[Job]) -> int:
        """Store jobs whose ids are new, in a transaction of their own; returns how many were new."""

    @abstractmethod
    def enqueue_with(self, transaction: Session | Connection, jobs: Sequence[Job]) -> int:
        """Enqueue ``jobs`` as part of the caller's open ``transaction`` on the registry database.

        Durable when the caller's transaction commits; nothing is enqueued if
        it rolls back. Idempotent by id like :meth:`enqueue`. Returns how many
        jobs were written (an implementation that cannot tell duplicates apart
        before the commit, such as an outbox, counts them all).
        """

    @abstractmethod
    def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker: str
    ) -> list[ClaimedJob]:
        """Lease up to ``limit`` due jobs of ``queues``, oldest run-at first."""

    def claim_tiers(
        self, tiers: Sequence[ClaimTier], *, limit: int, reserved: int = 0, lease_seconds: float,
        worker: str,
    ) -> list[ClaimedJob]:
        """Up to ``limit`` due jobs (plus ``reserved`` for reserved tiers), a tier at a time
        with the room the tiers before it left (:class:`TierRooms`).

        The default claims tier by tier; an implementation may do it all at once (the SQL
        queue: one transaction) as long as each tier sees only the room left to it.
        """
        rooms = TierRooms(limit, reserved)
        jobs: list[ClaimedJob] = []
        for tier in tiers:
            room = rooms.room(tier)
            if room <= 0:
                continue
            claimed = self.claim(tier.queues, limit=room, lease_seconds=lease_seconds, worker=worker)
            rooms.took(tier, len(claimed))
            jobs += claimed
        return jobs

    # How has_due may be asked: "claim" (it is no cheaper than a claim: workers back off
    # and claim), "thread" (a cheap read that may wait on the network: asked from a
    # thread), "inline" (a read of a local file that never waits for a lock: asked on the
    # event loop, which spares the thread hand-off, the costlier part of an idle look).
    due_check: DueCheck = "claim"

    def has_due(self, queues: Sequence[str]) -> bool:
        """Whether a claim of ``queues`` would find a job now, asked without claiming. A queue
        that cannot tell more cheaply than a claim says True, and the asker claims."""
        return bool(queues)

    def listen(self, on_due: Callable[[str | None], None]) -> DueListener | None:
        """A listener that calls ``on_due(queue)`` when another process makes jobs of ``queue``
        due, and ``on_due(None)`` when listening starts or stops (then anything may be due);
        None when the queue cannot tell (the default): workers look or claim instead."""
        return None

    @abstractmethod
    def complete(self, ids: Sequence[str]) -> int:
        """Mark jobs done; returns how many were still queued or leased."""

    def completion_step(self, db: Database) -> CompletionStep | None:
        """:meth:`complete` as a step of a caller's write transaction on ``db``, run on that
        transaction's DB-API cursor before it commits, so the jobs are done exactly when the
        caller's writes are. None (the default) when this queue's jobs are stored elsewhere:
        the caller calls :meth:`complete` after its commit."""
        return None

    @abstractmethod
    def retry(self, job_id: str, *, reason: str, run_at: float | None = None) -> bool:
        """Release the lease to run again at ``run_at`` (None: now).

        Attempts keep counting; with none left the job is dead-lettered
        instead. True if it will run again.
        """

    @abstractmethod
    def reschedule(self, queue: str, *, run_at: float, id_suffix: str = "", id_prefix: str = "") -> int:
        """Bring queued jobs of ``queue`` that are due after ``run_at`` forward to ``run_at``.

        ``id_suffix`` narrows it to the jobs whose id ends with it (the
        workers mark the jobs a credentials pause deferred that way, and wake
        them when the pause is lifted early); ``id_prefix`` to the jobs whose
        id starts with it (a send's jobs, when it is cancelled). Leased and finished jobs, and
        jobs already due, are left as they are. Returns how many moved.
        """

    @abstractmethod
    def fail(self, job_id: str, reason: str) -> bool:
        """Dead-letter a job now (a permanent error); True if it was active."""

    @abstractmethod
    def extend(self, ids: Sequence[str], lease_seconds: float, *, worker: str | None = None) -> list[str]:
        """Push leases ``lease_seconds`` past now; returns the ids still held (by ``worker``)."""

    @abstractmethod
    def depth(self, queue: str | None = None) -> int:
        """Pending work items (queued and leased), of one queue or all. Cheap."""

    @abstractmethod
    def depths(self) -> dict[str, int]:
        """Pending work items per queue (the metrics gauge)."""

    @abstractmethod
    def stats(self) -> dict[str, QueueStats]:
        """Per-queue counts by state (admin pages; not for hot paths)."""

    @abstractmethod
    def get(self, job_id: str) -> JobInfo | None:
        """One job as stored, or None (never enqueued, or purged)."""

    @abstractmethod
    def failed_jobs(self, queue: str | None = None, *, limit: int = 100) -> list[JobInfo]:
        """Dead letters, most recent first."""

    @abstractmethod
    def requeue_failed(self, ids: Sequence[str], *, run_at: float | None = None) -> int:
        """Give dead letters a fresh set of tries; returns how many were requeued."""

    def lost_data(self) -> bool:
        """True when the store lost its jobs since this process last asked (a Redis restarted
        without persistence, docs/scale-out.md §5). The SQL queue's jobs are rows of the
        registry database: never."""
        return False

    def close(self) -> None:  # noqa: B027 - optional: most queues hold nothing to release
        """Release what the queue holds (connections, a relay thread); the SQL queue holds nothing."""

    @abstractmethod
    def purge(self, *, older_than: float, include_failed: bool = False) -> int:
        """Delete finished jobs last updated before ``older_than`` (epoch seconds).

        Done jobs are kept until purged so a late duplicate enqueue is still
        recognised; purge them periodically (e.g. older than an hour).
        """
