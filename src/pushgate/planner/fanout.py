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

Batches are per provider: "all" walks each provider's devices in id order
(index ``(app_id, active, provider, id)``); explicit lists (tokens, device
ids, users) are walked in slices of the list and each slice's devices are
grouped by provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from pushgate.queue.base import DEFAULT_MAX_TRIES, Job, Queue
from pushgate.registry.constants import (
    OPT_OUT_ALL,
    PROVIDERS,
    SendStatus,
)
from pushgate.registry.db import Database
from pushgate.registry.devices import token_hash
from pushgate.registry.models import (
    UTCDateTime,
    device_tags_table,
    devices_table,
    sends_table,
    user_optouts_table,
    user_tags_table,
    users_table,
    utcnow,
)
from pushgate.registry.sends import sends_to_resume
from pushgate.registry.targets import Target

FANOUT_QUEUE = "fanout"
DELIVER_QUEUE_PREFIX = "deliver:"
DIRECT_LANE = ":direct"  # suffix of the lanes of sends to named devices or users
DEFAULT_CHUNK_SIZE = 1000  # devices per delivery job; Settings.chunk_size has the same default
# Delivery jobs stored per fan-out transaction ("all" targets): each transaction
# locks the send and rewrites its state, so a step of several jobs spends that
# once for thousands of devices instead of once per job.
STEP_JOBS = 10
COUNT_SLICE = 1000  # list targets are counted in slices of this many values, as fan-out walks them

_d = devices_table.c
_s = sends_table.c


def deliver_queue(provider: str, *, direct: bool = False) -> str:
    """The queue of one provider's delivery jobs, in one of two lanes.

    ``direct``: a send to named tokens, devices or users (a login code, a chat
    message). Workers claim the direct lanes before the broadcast lanes (see
    :mod:`pushgate.workers.sender`), so a send to a million devices does not
    hold up one user's notification behind it.
    """
    return f"{DELIVER_QUEUE_PREFIX}{provider}{DIRECT_LANE if direct else ''}"


def is_direct(queue: str) -> bool:
    """Whether ``queue`` is claimed first: fan-out (cheap, makes work) and the direct lanes."""
    return queue == FANOUT_QUEUE or queue.endswith(DIRECT_LANE)


def fanout_job(send_id: str, send_at: datetime | None = None, *, max_tries: int = DEFAULT_MAX_TRIES) -> Job:
    """The job that fans ``send_id`` out; scheduled sends simply run later."""
    return Job(
        id=f"fanout:{send_id}", queue=FANOUT_QUEUE, payload={"send_id": send_id},
        run_at=send_at.timestamp() if send_at is not None else None, max_tries=max_tries,
    )


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
            if step.status not in _FANNING:
                return result
            continue
        if not step.batch:
            return result
        result.targeted += len(step.batch)


_FANNING = (SendStatus.QUEUED, SendStatus.FANNING_OUT)


@dataclass(slots=True)
class _Step:
    status: str | None
    chunks: int | None
    jobs: list[Job]
    batch: list[tuple[int, str]]
    stale: bool  # nothing written: the stored state differs from what the caller knew


def _advance(
    db: Database, send_id: str, known: int | None, chunk_size: int, max_tries: int, *, step_jobs: int = 1
) -> _Step:
    """One batch: lock the send, check its state, find the next devices, store the new state.

    The new state is only written over the state the caller has seen (and
    whose pending jobs it enqueued): pending jobs are never overwritten
    before someone enqueued them. An empty batch with ``stale`` false means
    fan-out just finished.
    """
    with db.connect() as connection:
        send = connection.execute(
            select(_s.app_id, _s.status, _s.target, _s.fanout_state).where(_s.id == send_id)
            .with_for_update()
        ).one_or_none()
        if send is None:
            return _Step(None, None, [], [], stale=True)
        state: dict[str, Any] = send.fanout_state or {"cursor": [0, 0], "chunks": 0, "pending": []}
        if send.status not in _FANNING or state["chunks"] != known:
            pending = [Job(**job) for job in state["pending"]] if send.status in _FANNING else []
            return _Step(send.status, state["chunks"], pending, [], stale=True)
        target = Target.parse(send.target)
        batch, cursor = _next_batch(connection, send.app_id, target, state["cursor"], chunk_size, step_jobs)
        jobs = _jobs(send_id, send.app_id, batch, state["chunks"], chunk_size, max_tries,
                     direct=target.audience != "all")
        chunks = state["chunks"] + len(jobs)
        now = utcnow()
        values: dict[str, Any] = {
            "fanout_state": {"cursor": cursor, "chunks": chunks, "pending": [_job_json(job) for job in jobs]},
            "updated_at": now,
        }
        if batch:
            values["targeted"] = _s.targeted + len(batch)
            values["status"] = SendStatus.FANNING_OUT.value
        else:
            finished = _s.targeted <= _s.sent + _s.failed + _s.dead + _s.expired
            values["status"] = case((finished, SendStatus.DONE.value), else_=SendStatus.SENDING.value)
            values["finished_at"] = case((finished, literal(now, UTCDateTime())), else_=_s.finished_at)
        status = connection.execute(
            update(sends_table).where(_s.id == send_id).values(values).returning(_s.status)
        ).scalar_one()
    return _Step(status, chunks, jobs, batch, stale=False)


def _job_json(job: Job) -> dict[str, Any]:
    return {"id": job.id, "queue": job.queue, "payload": job.payload, "max_tries": job.max_tries,
            "size": job.size}


def _jobs(
    send_id: str, app_id: int, batch: list[tuple[int, str]], first: int, chunk_size: int, max_tries: int,
    *, direct: bool,
) -> list[Job]:
    """Group a batch (device id, provider) by provider; at most chunk_size devices per job."""
    by_provider: dict[str, list[int]] = {}
    for device_id, provider in batch:
        by_provider.setdefault(provider, []).append(device_id)
    jobs: list[Job] = []
    for provider, ids in by_provider.items():
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start:start + chunk_size]
            jobs.append(Job(
                id=f"{send_id}:{first + len(jobs)}",
                queue=deliver_queue(provider, direct=direct),
                payload={"send_id": send_id, "app_id": app_id, "provider": provider, "device_ids": chunk},
                max_tries=max_tries,
                size=len(chunk),
            ))
    return jobs


def count_audience(connection_or_session: Connection | Session, app_id: int, target: Target) -> int:
    """How many devices a fan-out of ``target`` would reach now: one ``COUNT`` (per list slice).

    The same conditions :func:`fan_out` walks (active devices, the target's
    filters, opt-outs), so the number an API answers with and the deliveries
    agree. Runs in the caller's transaction.
    """
    connection = (
        connection_or_session.connection() if isinstance(connection_or_session, Session)
        else connection_or_session
    )
    conditions = _audience_filters(app_id, target)
    base = select(func.count()).select_from(devices_table)
    if target.audience == "all":
        return int(connection.execute(base.where(*conditions)).scalar_one())
    total = 0
    for start in range(0, len(target.values), COUNT_SLICE):
        piece = list(target.values[start:start + COUNT_SLICE])
        condition = _list_condition(app_id, target.audience, piece)
        total += int(connection.execute(base.where(*conditions, condition)).scalar_one())
    return total


def _audience_filters(app_id: int, target: Target) -> list[ColumnElement[bool]]:
    """Active devices of the app, narrowed by the target's filters, minus opted-out users."""
    conditions: list[ColumnElement[bool]] = [_d.app_id == app_id, _d.active == true()]
    if target.platforms:
        conditions.append(_d.platform.in_(target.platforms))
    if target.providers:
        conditions.append(_d.provider.in_(target.providers))
    if target.tags:
        conditions.append(or_(
            exists().where(device_tags_table.c.device_id == _d.id, device_tags_table.c.tag.in_(target.tags)),
            exists().where(user_tags_table.c.user_id == _d.user_id, user_tags_table.c.tag.in_(target.tags)),
        ))
    topics = [OPT_OUT_ALL] + ([target.topic] if target.topic else [])
    conditions.append(or_(
        _d.user_id.is_(None),
        not_(exists().where(user_optouts_table.c.user_id == _d.user_id,
                            user_optouts_table.c.topic.in_(topics))),
    ))
    return conditions


def _next_batch(
    connection: Connection, app_id: int, target: Target, cursor: list[int], chunk_size: int, step_jobs: int
) -> tuple[list[tuple[int, str]], list[int]]:
    """The next devices after ``cursor`` as (id, provider), and the cursor after them.

    "all": up to ``chunk_size * step_jobs`` devices of one provider, cursor =
    [provider index, last id]; lists: the devices of the next ``chunk_size``
    values, cursor = [list offset, 0] (a slice is one IN list: kept short).
    """
    conditions = _audience_filters(app_id, target)
    if target.audience == "all":
        providers = [p.value for p in PROVIDERS if not target.providers or p.value in target.providers]
        index, after = cursor
        while index < len(providers):
            provider = providers[index]
            ids = sorted(device_id for device_id, in _rows(connection, (
                select(_d.id)
                .where(*conditions, _d.provider == provider, _d.id > after)
                .order_by(_d.id)
                .limit(chunk_size * step_jobs)
            )))
            if ids:
                return [(device_id, provider) for device_id in ids], [index, ids[-1]]
            index, after = index + 1, 0
        return [], [index, 0]
    offset = cursor[0]
    while offset < len(target.values):
        piece = list(target.values[offset:offset + chunk_size])
        offset += len(piece)
        rows = sorted((provider, device_id) for device_id, provider in _rows(connection, (
            select(_d.id, _d.provider)
            .where(*conditions, _list_condition(app_id, target.audience, piece))
            .order_by(_d.provider, _d.id)
        )))
        if rows:
            return [(device_id, provider) for provider, device_id in rows], [offset, 0]
    return [], [offset, 0]


def _rows(connection: Connection, query: Select[Any]) -> list[Sequence[Any]]:
    """The rows of ``query`` as plain sequences, in no particular order.

    SQLite packs them into one JSON array: the sqlite3 module releases and
    re-takes the GIL around every row it steps to, and in the server each
    re-take waits for the event loop, so thousands of ids one by one cost
    far more than one JSON string.
    """
    if connection.dialect.name != "sqlite":
        return list(connection.execute(query))
    packed = query.subquery()
    found = connection.execute(select(func.json_group_array(func.json_array(*packed.c)))).scalar_one()
    rows: list[Sequence[Any]] = json.loads(found)
    return rows


def _list_condition(app_id: int, audience: str, piece: list[Any]) -> ColumnElement[bool]:
    if audience == "device_ids":
        return _d.id.in_(piece)
    if audience == "users":
        u = users_table.c
        return _d.user_id.in_(select(u.id).where(u.app_id == app_id, u.external_id.in_(piece)))
    hashes = {token_hash(token) for token in piece} | {token_hash(token.strip().lower()) for token in piece}
    return _d.token_hash.in_(hashes)


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DELIVER_QUEUE_PREFIX",
    "DIRECT_LANE",
    "FANOUT_QUEUE",
    "FanoutResult",
    "count_audience",
    "deliver_queue",
    "enqueue_fanout",
    "fan_out",
    "fanout_job",
    "is_direct",
    "resume_fanouts",
]
