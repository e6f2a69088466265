"""The registry side of fan-out: who a target reaches, walked in batches under the send's lock.

:mod:`pushgate.planner.fanout` decides what becomes of a batch (delivery
jobs); this module owns the SQL: the audience conditions (active devices,
the target's filters, opt-outs), the keyset walk, the audience count, and
the locked read-modify-write of the fan-out state stored on the send.

Batches are per provider: "all" walks each provider's devices in id order
(index ``(app_id, active, provider, id)``); explicit lists (tokens, device
ids, users) are walked in slices of the list and each slice's devices are
grouped by provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Select,
    String,
    bindparam,
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

from pushgate.registry.constants import OPT_OUT_ALL, PROVIDERS, TOPIC_DEVICE_ID, ProviderName, SendStatus
from pushgate.registry.db import Database
from pushgate.registry.device_specs import token_hash
from pushgate.registry.models import (
    Send,
    UTCDateTime,
    devices_table,
    sends_table,
    user_optouts_table,
    users_table,
    utcnow,
)
from pushgate.registry.tag_expressions import tag_condition
from pushgate.registry.targets import Target

COUNT_SLICE = 1000  # list targets are counted in slices of this many values, as fan-out walks them
FANNING = (SendStatus.QUEUED, SendStatus.FANNING_OUT)  # a send whose fan-out has not finished

_d = devices_table.c
_s = sends_table.c

Batch = list[tuple[int, str]]  # (device id, provider), grouped by provider
# Given (app id, target, batch, number of chunks made so far), the pending work
# to store with the advanced cursor: opaque JSON objects to this module.
PlanBatch = Callable[[int, Target, Batch, int], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class FanoutStep:
    """What one locked step of a send's fan-out saw or wrote."""

    status: str | None  # the send's status after the step (None: no such send)
    chunks: int | None  # the stored state's chunk count after the step
    pending: list[dict[str, Any]]  # the pending work stored in that state
    batch: Batch  # the devices this step added (empty when stale or finished)
    stale: bool  # nothing written: the stored state differs from what the caller knew


def advance_fanout(
    db: Database, send_id: str, known: int | None, *, chunk_size: int, step_jobs: int, plan: PlanBatch
) -> FanoutStep:
    """One batch: lock the send, check its state, find the next devices, store the new state.

    The new state is only written over the state the caller has seen
    (``known``: its chunk count), so pending work is never overwritten before
    someone handed it on. A stale step returns the stored state's pending
    work (none once fan-out finished). An empty batch with ``stale`` false
    means fan-out just finished: the send becomes ``sending``, or ``done``
    when workers already recorded every outcome.
    """
    with db.connect() as connection:
        send = connection.execute(
            select(_s.app_id, _s.status, _s.target, _s.fanout_state).where(_s.id == send_id)
            .with_for_update()
        ).one_or_none()
        if send is None:
            return FanoutStep(None, None, [], [], stale=True)
        state: dict[str, Any] = send.fanout_state or {"cursor": [0, 0], "chunks": 0, "pending": []}
        if send.status not in FANNING or state["chunks"] != known:
            pending = list(state["pending"]) if send.status in FANNING else []
            return FanoutStep(send.status, state["chunks"], pending, [], stale=True)
        target = Target.parse(send.target)
        batch, cursor = next_batch(connection, send.app_id, target, state["cursor"], chunk_size, step_jobs)
        pending = plan(send.app_id, target, batch, state["chunks"])
        chunks = state["chunks"] + len(pending)
        now = utcnow()
        values: dict[str, Any] = {
            "fanout_state": {"cursor": cursor, "chunks": chunks, "pending": pending},
            "updated_at": now,
        }
        if batch:
            values["targeted"] = _s.targeted + len(batch)
            values["status"] = SendStatus.FANNING_OUT.value
        else:
            finished = _s.targeted <= _s.sent + _s.failed + _s.dead + _s.expired + _s.cancelled
            values["status"] = case((finished, SendStatus.DONE.value), else_=SendStatus.SENDING.value)
            values["finished_at"] = case((finished, literal(now, UTCDateTime())), else_=_s.finished_at)
        status = connection.execute(
            update(sends_table).where(_s.id == send_id).values(values).returning(_s.status)
        ).scalar_one()
    return FanoutStep(status, chunks, pending, batch, stale=False)


def fits_one_slice(target: Target, chunk_size: int) -> bool:
    """A list target (tokens, device ids, users) that one slice of the walk covers."""
    return target.audience != "all" and not target.fcm and len(target.values) <= chunk_size


def record_fanned_out(send: Send, *, cursor: list[int], chunks: int, targeted: int) -> None:
    """Store on a send (in the caller's session) the state its fan-out ends with when one step
    walked its whole target: what :func:`advance_fanout` writes over its last two steps."""
    now = utcnow()
    send.fanout_state = {"cursor": cursor, "chunks": chunks, "pending": []}
    send.targeted = targeted
    send.status = SendStatus.SENDING.value if targeted else SendStatus.DONE.value
    send.finished_at = None if targeted else now
    send.updated_at = now


def count_audience(connection_or_session: Connection | Session, app_id: int, target: Target) -> int:
    """How many devices a fan-out of ``target`` would reach now (see :func:`count_audience_by_provider`)."""
    return sum(count_audience_by_provider(connection_or_session, app_id, target).values())


def count_audience_by_provider(
    connection_or_session: Connection | Session, app_id: int, target: Target
) -> dict[str, int]:
    """How many devices a fan-out of ``target`` would reach now, per provider (those it reaches).

    The same conditions fan-out walks (active devices, the target's
    filters, opt-outs), so the number an API answers with and the deliveries
    agree; one ``GROUP BY provider`` (per list slice), as cheap as a plain
    count over the ``(app_id, active, provider, id)`` index. Runs in the
    caller's transaction.
    """
    connection = (
        connection_or_session.connection() if isinstance(connection_or_session, Session)
        else connection_or_session
    )
    if target.fcm:
        return {ProviderName.FCM.value: 1}  # one request: FCM fans it out to the topic's subscribers
    conditions = audience_filters(app_id, target)
    base = select(_d.provider, func.count()).select_from(devices_table).group_by(_d.provider)
    pieces: list[list[Any] | None] = [None] if target.audience == "all" else [
        list(target.values[start:start + COUNT_SLICE]) for start in range(0, len(target.values), COUNT_SLICE)
    ]
    counts: dict[str, int] = {}
    for piece in pieces:
        if piece is None:
            query = base.where(*conditions)
        else:  # the devices fan-out's pages reach, found the way it finds them
            page = page_query(connection, app_id, target, piece).order_by(None).subquery()
            query = select(page.c.provider, func.count()).group_by(page.c.provider)
        for provider, count in connection.execute(query):
            counts[provider] = counts.get(provider, 0) + int(count)
    return counts


def audience_filters(app_id: int, target: Target, *, app_index: bool = True) -> list[ColumnElement[bool]]:
    """Active devices of the app, narrowed by the target's filters, minus opted-out users.

    ``app_index=False`` writes the app condition as ``app_id + 0``, which no index serves:
    for a lookup that must go through another index (see :func:`page_query`).
    """
    app = _d.app_id == app_id if app_index else (_d.app_id + 0) == app_id
    conditions: list[ColumnElement[bool]] = [app, _d.active == true()]
    if target.platforms:
        conditions.append(_d.platform.in_(target.platforms))
    if target.providers:
        conditions.append(_d.provider.in_(target.providers))
    expression = target.tag_expression
    if expression is not None:
        conditions.append(tag_condition(expression))
    if target.timezones is not None:
        conditions.append(zone_of_device().in_(target.timezones))
    topics = [OPT_OUT_ALL] + ([target.topic] if target.topic else [])
    conditions.append(or_(
        _d.user_id.is_(None),
        not_(exists().where(user_optouts_table.c.user_id == _d.user_id,
                            user_optouts_table.c.topic.in_(topics))),
    ))
    return conditions


def zone_of_device() -> ColumnElement[str]:
    """A device's time zone for local-time sends: its user's, else its own, else "" (the app's)."""
    users_zone = select(users_table.c.timezone).where(users_table.c.id == _d.user_id).scalar_subquery()
    return func.coalesce(users_zone, _d.timezone, "")


def next_batch(
    connection: Connection, app_id: int, target: Target, cursor: list[int], chunk_size: int, step_jobs: int,
    extra: Sequence[ColumnElement[bool]] = (),
) -> tuple[Batch, list[int]]:
    """The next devices after ``cursor`` as (id, provider), and the cursor after them.

    "all": up to ``chunk_size * step_jobs`` devices of one provider, cursor =
    [provider index, last id]; lists: the devices of the next ``chunk_size``
    values, cursor = [list offset, 0] (a slice is one IN list: kept short).
    ``extra``: further conditions on the devices (planner/replan.py's).
    """
    if target.fcm:  # one delivery, on the placeholder device id, then done
        return ([(TOPIC_DEVICE_ID, ProviderName.FCM.value)], [1, 0]) if cursor[0] == 0 else ([], cursor)
    if target.audience == "all":
        conditions = [*audience_filters(app_id, target), *extra]
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
        rows = sorted((provider, device_id) for device_id, provider in _rows(
            connection, page_query(connection, app_id, target, piece, extra)))
        if rows:
            return [(device_id, provider) for provider, device_id in rows], [offset, 0]
    return [], [offset, 0]


def page_query(
    connection: Connection, app_id: int, target: Target, piece: list[Any],
    extra: Sequence[ColumnElement[bool]] = (),
) -> Select[Any]:
    """(id, provider) of the devices of one page of a list target's values.

    Users on PostgreSQL: each external id is looked up through the users' unique index and
    each user's devices through the ``user_id`` index, whatever the statistics say. Left
    to the planner, a page of 1,000 users read every user and device of the app, by an
    ``app_id`` index with the statistics of a table small at its last ANALYZE and by two
    sequential scans with fresh ones (100,000 devices: 52 and 32 ms a page). A LATERAL
    subquery is joined once per value through its index; OFFSET 0 keeps the planner from
    flattening it into a join it could hash (docs/targeting.md).
    """
    if target.audience == "users" and connection.dialect.name == "postgresql":
        values = bindparam("wanted", piece, type_=ARRAY(String))
        wanted = func.unnest(values).table_valued("external_id").render_derived("w")
        u = users_table.c
        user = (select(u.id).where(u.app_id == app_id, u.external_id == wanted.c.external_id)
                .offset(0).lateral("u"))
        device = (select(_d.id, _d.provider)
                  .where(_d.user_id == user.c.id, *audience_filters(app_id, target, app_index=False), *extra)
                  .offset(0).lateral("d"))
        return (select(device.c.id, device.c.provider).select_from(wanted).join(user, true())
                .join(device, true()).order_by(device.c.provider, device.c.id))
    return (select(_d.id, _d.provider)
            .where(*audience_filters(app_id, target), *extra, list_condition(app_id, target.audience, piece))
            .order_by(_d.provider, _d.id))


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


def list_condition(app_id: int, audience: str, piece: list[Any]) -> ColumnElement[bool]:
    if audience == "device_ids":
        return _d.id.in_(piece)
    if audience == "users":
        u = users_table.c
        return _d.user_id.in_(select(u.id).where(u.app_id == app_id, u.external_id.in_(piece)))
    hashes = {token_hash(token) for token in piece} | {token_hash(token.strip().lower()) for token in piece}
    return _d.token_hash.in_(hashes)


__all__ = [
    "COUNT_SLICE", "FANNING", "Batch", "FanoutStep", "PlanBatch", "advance_fanout", "audience_filters",
    "count_audience", "fits_one_slice", "list_condition", "next_batch", "page_query", "record_fanned_out",
    "zone_of_device",
]
