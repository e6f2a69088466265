"""Fan-out: a send's target → its devices, streamed in chunks → delivery jobs.

A send's fan-out is itself a queue job (queue ``fanout``, id
``fanout:<send id>``, run-at = the send's ``send_at``), so scheduling,
retries and crash recovery are the queue's. :func:`fan_out` then walks the
audience by keyset pagination — never loading it whole, so memory stays
flat for a million devices — and for each batch

1. in one transaction, with the send row locked (``FOR UPDATE`` on
   PostgreSQL, the write lock on SQLite), reads the fan-out state stored on
   the send, queries the next batch of devices after its cursor, and writes
   the new state: the advanced cursor, ``targeted += len(batch)`` and the
   batch's jobs as ``pending``;
2. enqueues those jobs (ids ``<send id>:<n>``, queue ``deliver:<provider>``).

A crash between 1 and 2 loses nothing: a run only writes a new state over
the state it has seen, and it enqueues that state's ``pending`` jobs first
(enqueue is idempotent by id, so if they were enqueued already nothing
happens); a re-run therefore starts by enqueuing what a dead run left
pending, then continues from the cursor. Each batch is counted once, even
when a slow run and the one that reclaimed its expired lease overlap,
because the count moves in the same locked transaction as the cursor. When
no device is left the send becomes ``sending`` (or ``done`` if workers
already recorded every outcome).

A send to a short list (tokens, device ids or users: at most ``chunk_size``
values, one slice of the walk) is not given a fan-out job at all:
:func:`walk_now` reads its one slice with the API's other checks, and
:func:`fan_out_now` turns it into delivery jobs on the direct lane in the
transaction that stores the send, with the finished fan-out state. The send and its
jobs commit together (the same promise as the fan-out job's: durable
before the 202), and a login code skips a whole hop — a worker's claim of
the fan-out job, its locked steps and its enqueue — before its delivery
is claimed (bench scenario 9).

The SQL of step 1 (the audience, the keyset walk, the locked state) is
the registry's (:mod:`pushgate.registry.fanout_queries`); the job ids and
payloads are :mod:`pushgate.planner.jobs`'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from time import sleep
from typing import Any

from sqlalchemy.orm import Session

from pushgate.planner.jobs import (
    DeliveryPayload,
    delivery_job,
    fanout_job,
    job_from_json,
    job_to_json,
)
from pushgate.queue.base import DEFAULT_MAX_TRIES, Job, Queue
from pushgate.registry.db import Database
from pushgate.registry.fanout_queries import (
    FANNING,
    Batch,
    advance_fanout,
    fits_one_slice,
    next_batch,
    record_fanned_out,
)
from pushgate.registry.models import Send
from pushgate.registry.sends import sends_to_resume
from pushgate.registry.targets import Target

DEFAULT_CHUNK_SIZE = 1000  # devices per delivery job; Settings.chunk_size has the same default
# Delivery jobs stored per fan-out transaction ("all" targets): each transaction
# locks the send and rewrites its state, so a step of several jobs spends that
# once for thousands of devices instead of once per job.
STEP_JOBS = 10
# On SQLite a fan-out stands aside this long after each step: its transactions come
# back to back, and SQLite's one write lock goes to whoever asks first after a commit,
# which is the fan-out itself, a few microseconds later. Writers waiting meanwhile
# (the API storing a login code, a worker claiming it or writing its outcome) look
# every millisecond (registry/sqlite_lock.py); the pause lets each of them in once
# per step. A million devices take 100 steps: 0.2 s more (bench scenario 9).
SQLITE_STEP_PAUSE = 0.002


def enqueue_fanout(queue: Queue, send_id: str, send_at: datetime | None = None) -> bool:
    """Enqueue a send's fan-out (call after committing the send; idempotent)."""
    return queue.enqueue([fanout_job(send_id, send_at)]) == 1


def resume_fanouts(db: Database, queue: Queue) -> int:
    """At start-up: give every send that has not finished its fan-out a fan-out job that will run.

    Covers a crash between storing a send and enqueuing its fan-out job, a
    fan-out job that was purged or lost with a Redis queue, and one that ran
    out of tries (say, the database was away for longer than its retries):
    that dead letter is requeued with a fresh set of tries, rather than
    leaving its send "fanning out" for ever. Fan-out is safe to re-run, so
    this is too. Returns how many jobs were enqueued or requeued.
    """
    with db.session(write=False) as session:
        pending = sends_to_resume(session)
    jobs = [fanout_job(send_id, send_at) for send_id, send_at in pending]
    return queue.enqueue(jobs) + queue.requeue_failed([job.id for job in jobs])


@dataclass(frozen=True, slots=True)
class Walked:
    """The devices of a short list target, read before its send is stored (see :func:`walk_now`)."""

    batch: Batch
    cursor: list[int]  # the walk's cursor past the whole list

    def by_provider(self) -> dict[str, int]:
        """How many devices per provider: what ``count_audience_by_provider`` answers."""
        counts: dict[str, int] = {}
        for _, provider in self.batch:
            counts[provider] = counts.get(provider, 0) + 1
        return counts


def walk_now(session: Session, app_id: int, target: Target, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
             ) -> Walked | None:
    """The whole walk of ``target`` when it is a list of at most ``chunk_size`` values (one
    slice); None for anything else (a broadcast, a long list, an FCM topic: a fan-out job's).

    The API reads it with its other checks, counts the audience from it and
    hands it to :func:`fan_out_now`. A device that is deactivated or deleted
    between this read and its delivery is recorded failed by the delivery job
    (registry/chunks.py), as after any fan-out.
    """
    if not fits_one_slice(target, chunk_size):
        return None
    batch, cursor = next_batch(session.connection(), app_id, target, [0, 0], chunk_size, 1)
    return Walked(batch, cursor)


def fan_out_now(
    send: Send, walked: Walked, *, chunk_size: int = DEFAULT_CHUNK_SIZE, max_tries: int = DEFAULT_MAX_TRIES,
) -> list[Job]:
    """The whole fan-out of a send not yet stored (registry ``new_send``): its delivery jobs, to
    enqueue in the transaction that stores it (none when no device matched: the send is then
    ``done``).

    The send is left as a finished fan-out leaves it (``sending``,
    ``targeted``, the cursor past the list), so start-up's
    :func:`resume_fanouts` does not run it again and the re-plan of a lost
    queue (planner/replan.py) reads it like any other.
    """
    jobs = _jobs(send.id, send.app_id, walked.batch, 0, chunk_size, max_tries, direct=True)
    record_fanned_out(send, cursor=walked.cursor, chunks=len(jobs), targeted=len(walked.batch))
    return jobs


@dataclass(slots=True)
class FanoutResult:
    jobs: int = 0  # delivery jobs this run created (enqueued as new)
    targeted: int = 0  # devices this run added to the send
    status: str | None = None  # the send's status when the run ended (None: no such send)


def fan_out(
    db: Database,
    queue: Queue,
    send_id: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_tries: int = DEFAULT_MAX_TRIES,
    step_jobs: int = STEP_JOBS,
    on_enqueued: Callable[[int], None] | None = None,
) -> FanoutResult:
    """Turn a send into delivery jobs; safe to re-run at any point (see the module docstring).

    ``step_jobs``: how many jobs' worth of devices (``chunk_size`` each) one
    transaction walks when the target is "all". ``on_enqueued(n)`` is called
    after each step that enqueued ``n`` new jobs, so workers can start on
    them while the fan-out goes on.
    """
    result = FanoutResult()
    known: int | None = None  # the state (chunk count) whose pending jobs this run has enqueued
    while True:
        step = _advance(db, send_id, known, chunk_size, max_tries, step_jobs=step_jobs)
        result.status = step.status
        if step.jobs:
            # Either this batch's jobs, or - when the stored state is not the one this
            # run left (first step, or another run advanced it) - the jobs that state
            # says are pending: whoever stored them may have died before enqueuing.
            new = queue.enqueue(step.jobs)
            result.jobs += new
            if new and on_enqueued is not None:
                on_enqueued(new)
        known = step.chunks
        if step.stale:
            if step.status not in FANNING:
                return result
            continue
        if not step.batch:
            return result
        result.targeted += len(step.batch)
        if db.is_sqlite:
            sleep(SQLITE_STEP_PAUSE)


@dataclass(slots=True)
class _Step:
    status: str | None
    chunks: int | None
    jobs: list[Job]
    batch: Batch
    stale: bool  # nothing written: the stored state differs from what the caller knew


def _advance(
    db: Database, send_id: str, known: int | None, chunk_size: int, max_tries: int, *, step_jobs: int = 1
) -> _Step:
    """One locked step (:func:`~pushgate.registry.fanout_queries.advance_fanout`) as jobs."""

    def plan(app_id: int, target: Target, batch: Batch, first: int) -> list[dict[str, Any]]:
        jobs = _jobs(send_id, app_id, batch, first, chunk_size, max_tries, direct=target.audience != "all")
        return [job_to_json(job) for job in jobs]

    step = advance_fanout(db, send_id, known, chunk_size=chunk_size, step_jobs=step_jobs, plan=plan)
    return _Step(step.status, step.chunks, [job_from_json(job) for job in step.pending], step.batch,
                 step.stale)


def _jobs(
    send_id: str, app_id: int, batch: Batch, first: int, chunk_size: int, max_tries: int, *, direct: bool,
) -> list[Job]:
    """Group a batch (device id, provider) by provider; at most chunk_size devices per job."""
    by_provider: dict[str, list[int]] = {}
    for device_id, provider in batch:
        by_provider.setdefault(provider, []).append(device_id)
    jobs: list[Job] = []
    for provider, ids in by_provider.items():
        for start in range(0, len(ids), chunk_size):
            payload = DeliveryPayload(send_id, app_id, provider, tuple(ids[start:start + chunk_size]))
            jobs.append(delivery_job(payload, first + len(jobs), direct=direct, max_tries=max_tries))
    return jobs


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "STEP_JOBS",
    "FanoutResult",
    "Walked",
    "enqueue_fanout",
    "fan_out",
    "fan_out_now",
    "resume_fanouts",
    "walk_now",
]
