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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
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
    REASON_DEVICE_DELETED,
    REASON_DEVICE_INACTIVE,
    DeliveryStatus,
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
from pushgate.registry.sends import Outcome, record_outcomes_on, sends_to_resume
from pushgate.registry.targets import Target

FANOUT_QUEUE = "fanout"
DELIVER_QUEUE_PREFIX = "deliver:"
DEFAULT_CHUNK_SIZE = 500  # devices per delivery job
COUNT_SLICE = 1000  # list targets are counted in slices of this many values, as fan-out walks them

_d = devices_table.c
_s = sends_table.c


def deliver_queue(provider: str) -> str:
    """The queue of one provider's delivery jobs (one worker pool per provider)."""
    return f"{DELIVER_QUEUE_PREFIX}{provider}"


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
) -> FanoutResult:
    """Turn a send into delivery jobs; safe to re-run at any point (see the module docstring)."""
    result = FanoutResult()
    known: int | None = None  # the state (chunk count) whose pending jobs this run has enqueued
    while True:
        step = _advance(db, send_id, known, chunk_size, max_tries)
        result.status = step.status
        if step.jobs:
            # Either this batch's jobs, or - when the stored state is not the one this
            # run left (first step, or another run advanced it) - the jobs that state
            # says are pending: whoever stored them may have died before enqueuing.
            result.jobs += queue.enqueue(step.jobs)
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


def _advance(db: Database, send_id: str, known: int | None, chunk_size: int, max_tries: int) -> _Step:
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
        batch, cursor = _next_batch(connection, send.app_id, Target.parse(send.target), state["cursor"],
                                    chunk_size)
        jobs = _jobs(send_id, send.app_id, batch, state["chunks"], chunk_size, max_tries)
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
    send_id: str, app_id: int, batch: list[tuple[int, str]], first: int, chunk_size: int, max_tries: int
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
                queue=deliver_queue(provider),
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
    connection: Connection, app_id: int, target: Target, cursor: list[int], chunk_size: int
) -> tuple[list[tuple[int, str]], list[int]]:
    """The next devices after ``cursor`` as (id, provider), and the cursor after them.

    "all": cursor = [provider index, last id]; lists: cursor = [list offset, 0].
    """
    conditions = _audience_filters(app_id, target)
    if target.audience == "all":
        providers = [p.value for p in PROVIDERS if not target.providers or p.value in target.providers]
        index, after = cursor
        while index < len(providers):
            rows = connection.execute(
                select(_d.id, _d.provider)
                .where(*conditions, _d.provider == providers[index], _d.id > after)
                .order_by(_d.id)
                .limit(chunk_size)
            ).all()
            if rows:
                return [(r.id, r.provider) for r in rows], [index, rows[-1].id]
            index, after = index + 1, 0
        return [], [index, 0]
    offset = cursor[0]
    while offset < len(target.values):
        piece = list(target.values[offset:offset + chunk_size])
        offset += len(piece)
        rows = connection.execute(
            select(_d.id, _d.provider)
            .where(*conditions, _list_condition(app_id, target.audience, piece))
            .order_by(_d.provider, _d.id)
        ).all()
        if rows:
            return [(r.id, r.provider) for r in rows], [offset, 0]
    return [], [offset, 0]


def _list_condition(app_id: int, audience: str, piece: list[Any]) -> ColumnElement[bool]:
    if audience == "device_ids":
        return _d.id.in_(piece)
    if audience == "users":
        u = users_table.c
        return _d.user_id.in_(select(u.id).where(u.app_id == app_id, u.external_id.in_(piece)))
    hashes = {token_hash(token) for token in piece} | {token_hash(token.strip().lower()) for token in piece}
    return _d.token_hash.in_(hashes)


class DeviceRow(NamedTuple):
    """What a sender worker needs of one device (a NamedTuple: built per device, cheaply)."""

    id: int
    provider: str
    token: str  # Web Push: the endpoint; WNS: the channel URI
    p256dh: str | None
    auth: str | None
    platform: str | None
    app_version: str | None
    locale: str | None  # the device's, else its user's (for localized templates)
    timezone: str | None  # the device's, else its user's
    user: str | None  # the app's user id
    # No timestamps: the dead-token rule ("unless it re-registered after the
    # provider's timestamp") is applied in SQL by deactivate_devices.


def load_chunk(db: Database, payload: Mapping[str, Any], *, now: datetime | None = None) -> list[DeviceRow]:
    """The devices of a delivery job that still need this send, loaded in one query.

    Skips devices that already have a delivery row for the send, so a job
    re-run after a crash does not re-send what was already recorded.
    Devices deleted or deactivated since fan-out get their final row here
    (failed: DeviceDeleted / DeviceInactive), so the send's pending count
    still reaches zero. A cancelled or unknown send yields nothing.
    """
    send_id: str = payload["send_id"]
    wanted: list[int] = list(payload["device_ids"])
    with db.connect(write=False) as connection:
        status = connection.execute(select(_s.status).where(_s.id == send_id)).scalar()
        if status is None or status == SendStatus.CANCELLED:
            return []
        rows: Sequence[Sequence[Any]]
        if connection.dialect.name == "sqlite":
            found_json = connection.exec_driver_sql(_CHUNK_SQLITE, (send_id, json.dumps(wanted))).scalar_one()
            rows = sorted(json.loads(found_json))
        else:
            rows = connection.exec_driver_sql(_CHUNK_POSTGRESQL, (send_id, wanted)).all()
    found: set[int] = set()
    settle: list[Outcome] = []
    devices: list[DeviceRow] = []
    for (device_id, provider, token, p256dh, auth, platform, app_version, locale, timezone, user,
         active, recorded) in rows:
        found.add(device_id)
        if recorded is not None:
            continue
        if not active:
            settle.append(Outcome(device_id, DeliveryStatus.FAILED, REASON_DEVICE_INACTIVE))
            continue
        devices.append(DeviceRow(
            device_id, provider, token, p256dh, auth, platform, app_version, locale, timezone, user
        ))
    settle.extend(Outcome(i, DeliveryStatus.FAILED, REASON_DEVICE_DELETED) for i in wanted if i not in found)
    if settle:
        with db.connect() as connection:
            record_outcomes_on(connection, send_id, payload["provider"], settle, now=now)
    return devices


# One statement whatever the chunk size (the id list is one parameter), so
# the driver parses it once; raw rows because SQLAlchemy's per-row result
# processing costs more than the query at tens of thousands of rows/s.
# SQLite answers with one row, the chunk as a JSON array (sorted here): the
# sqlite3 module releases and re-takes the GIL around every row it steps to,
# and in the server each re-take waits for the event loop, so 500 rows one by
# one took tens of milliseconds where one JSON string takes well under one.
_CHUNK_COLUMNS = (
    "d.id, d.provider, d.token, d.p256dh, d.auth, d.platform, d.app_version,"
    " COALESCE(d.locale, u.locale), COALESCE(d.timezone, u.timezone), u.external_id,"
    " d.active, x.device_id"
)
_CHUNK_FROM = (
    " FROM devices d LEFT JOIN users u ON u.id = d.user_id"
    " LEFT JOIN deliveries x ON x.send_id = {send} AND x.device_id = d.id"
    " WHERE d.id IN ({ids})"
)
_CHUNK_SQLITE = (f"SELECT json_group_array(json_array({_CHUNK_COLUMNS}))"
                 + _CHUNK_FROM.format(send="?", ids="SELECT value FROM json_each(?)"))
_CHUNK_POSTGRESQL = (f"SELECT {_CHUNK_COLUMNS}"
                     + _CHUNK_FROM.format(send="%s", ids="SELECT unnest(%s::bigint[])") + " ORDER BY d.id")

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DELIVER_QUEUE_PREFIX",
    "FANOUT_QUEUE",
    "DeviceRow",
    "FanoutResult",
    "count_audience",
    "deliver_queue",
    "enqueue_fanout",
    "fan_out",
    "fanout_job",
    "load_chunk",
    "resume_fanouts",
]
