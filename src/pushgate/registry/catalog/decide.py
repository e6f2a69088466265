"""The event worker's SQL: who the users are, what they refused, and the atomic per-user checks.

Each function is one statement for a whole batch, whatever its size (the id
lists travel as one JSON parameter on SQLite, ``json_each``; as arrays on
PostgreSQL, ``unnest``), so processing 1,000 events costs a handful of
round trips rather than thousands (the pattern of
:mod:`pushgate.registry.outcomes`).

The cooldown and the frequency cap are decided by the database, not by a
read followed by a write: one ``INSERT … ON CONFLICT DO UPDATE … WHERE
<the check> RETURNING user_id`` per batch, and only the users it returns
passed. On PostgreSQL the conflicting row is locked until the transaction
ends, so a second worker's statement waits and then evaluates the ``WHERE``
against the first one's committed value; on SQLite writers are serialised
(``BEGIN IMMEDIATE``). Either way two workers processing events for the
same user and message at the same moment cannot both pass
(tests/workers/test_workers_events_concurrency.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection

from pushgate.registry._types import sqlite_timestamp
from pushgate.registry.constants import OPT_OUT_ALL


class EventUser(NamedTuple):
    id: int
    locale: str | None
    timezone: str | None


class EventDevice(NamedTuple):
    id: int
    user_id: int
    provider: str
    locale: str | None


def _pg(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def _rows(connection: Connection, sqlite_sql: str, pg_sql: str, params: Sequence[Any],
          lists: Sequence[int]) -> Sequence[Any]:
    """Run one of two spellings: list parameters (at positions ``lists``) as JSON or as arrays.

    On SQLite the rows come back as one JSON array (``sqlite_sql`` selects
    ``json_array(…)`` per row): one step instead of one per row, which in
    the server waits for the GIL each time (see registry.chunks).
    """
    if _pg(connection):
        return connection.exec_driver_sql(pg_sql, tuple(params)).all()
    values = tuple(json.dumps(list(p)) if i in lists else p for i, p in enumerate(params))
    # json(r): a JSON value loses its JSON subtype through a subquery; without it each row
    # would be aggregated as a string.
    found = connection.exec_driver_sql(f"SELECT json_group_array(json(r)) FROM ({sqlite_sql})",
                                       values).scalar()
    return json.loads(found) if found else []


def _columns(connection: Connection, sql: str, params: Sequence[Any], count: int) -> list[list[Any]]:
    """SQLite: ``sql`` selects ``count`` ``json_group_array(…)`` columns; their decoded lists.

    One row of flat arrays (see :func:`_rows`), which decode faster than a
    small array per row and make no list per row.
    """
    row = connection.exec_driver_sql(sql, tuple(params)).one()
    return [json.loads(row[i]) for i in range(count)]


# PostgreSQL: one index lookup per wanted user, whatever the statistics say. These run once
# per event batch, and left to the planner they read every user or device of the app: with
# the statistics of a table that was small at its last ANALYZE it took the app's devices
# from an app_id index and filtered them; with fresh ones it scanned all of the users
# (random_page_cost prices 2,000 lookups above one scan). A LATERAL subquery is joined once per
# array element through its index; OFFSET 0 keeps the planner from flattening it into a join it
# could hash, and ``app_id + 0`` keeps a device lookup off the app_id indexes.
_USERS_POSTGRESQL = (
    "SELECT u.external_id, u.id, u.locale, u.timezone FROM unnest(%s::text[]) AS w(external_id)"
    " CROSS JOIN LATERAL (SELECT external_id, id, locale, timezone FROM users"
    " WHERE app_id = %s AND external_id = w.external_id OFFSET 0) AS u"
)
_DEVICES_POSTGRESQL = (
    "SELECT d.id, d.user_id, d.provider, d.locale FROM unnest(%s::bigint[]) AS w(user_id)"
    " CROSS JOIN LATERAL (SELECT id, user_id, provider, locale FROM devices"
    " WHERE user_id = w.user_id AND app_id + 0 = %s AND active OFFSET 0) AS d"
)


def find_users(connection: Connection, app_id: int, external_ids: Iterable[str]) -> dict[str, EventUser]:
    """External id → the user, for those the app registered."""
    wanted = list(set(external_ids))
    if not wanted:
        return {}
    if _pg(connection):
        rows = connection.exec_driver_sql(_USERS_POSTGRESQL, (wanted, app_id)).all()
        return {row[0]: EventUser(row[1], row[2], row[3]) for row in rows}
    external, ids, locales, zones = _columns(
        connection,
        "SELECT json_group_array(external_id), json_group_array(id), json_group_array(locale),"
        " json_group_array(timezone) FROM users WHERE app_id = ?"
        " AND external_id IN (SELECT value FROM json_each(?))",
        (app_id, json.dumps(wanted)), 4)
    return dict(zip(external, map(EventUser, ids, locales, zones), strict=True))


def refused(connection: Connection, user_ids: Iterable[int], messages_by_name: Mapping[str, int]) -> tuple[
        set[int], set[tuple[int, int]]]:
    """Users who opted out of everything, and the (user, message id) pairs opted out.

    A user refuses everything with the opt-out topic ``*``, and a message
    with a message opt-out (the 4006 snapshot) or an opt-out topic spelled
    as the message's name (``/v1/users/{id}/opt-outs``).
    """
    users = list(set(user_ids))
    messages = list(set(messages_by_name.values()))
    if not users:
        return set(), set()
    topics = _rows(
        connection,
        "SELECT json_array(user_id, topic) AS r FROM user_optouts"
        " WHERE user_id IN (SELECT value FROM json_each(?)) AND topic IN (SELECT value FROM json_each(?))",
        "SELECT user_id, topic FROM user_optouts"
        " WHERE user_id = ANY(%s::bigint[]) AND topic = ANY(%s::text[])",
        (users, [OPT_OUT_ALL, *messages_by_name]), (0, 1),
    )
    everything = {user for user, topic in topics if topic == OPT_OUT_ALL}
    by_topic = {(user, messages_by_name[topic]) for user, topic in topics if topic in messages_by_name}
    pairs = _rows(
        connection,
        "SELECT json_array(user_id, message_id) AS r FROM message_optouts"
        " WHERE user_id IN (SELECT value FROM json_each(?))"
        " AND message_id IN (SELECT value FROM json_each(?))",
        "SELECT user_id, message_id FROM message_optouts WHERE user_id = ANY(%s::bigint[])"
        " AND message_id = ANY(%s::bigint[])",
        (users, messages), (0, 1),
    ) if messages else []
    return everything, by_topic | {(row[0], row[1]) for row in pairs}


def replace_optouts(connection: Connection, user_id: int, message_ids: Iterable[int]) -> None:
    """The user's message opt-outs become exactly ``message_ids`` (the 4006 snapshot)."""
    marker = "%s" if _pg(connection) else "?"
    connection.exec_driver_sql(f"DELETE FROM message_optouts WHERE user_id = {marker}", (user_id,))
    rows = sorted(set(message_ids))
    if rows:
        connection.exec_driver_sql(
            f"INSERT INTO message_optouts (user_id, message_id) VALUES ({marker}, {marker})",
            [(user_id, message_id) for message_id in rows],
        )


def user_optout_ids(connection: Connection, user_id: int) -> list[int]:
    marker = "%s" if _pg(connection) else "?"
    rows = connection.exec_driver_sql(
        f"SELECT message_id FROM message_optouts WHERE user_id = {marker} ORDER BY message_id", (user_id,))
    return [row[0] for row in rows]


def active_devices(connection: Connection, app_id: int, user_ids: Iterable[int]) -> list[EventDevice]:
    """The users' active devices (device locale for rendering when the user has none), by id.

    SQLite is steered to the ``user_id`` index (the unary ``+`` keeps it from
    using ``app_id`` for an index): left to itself it walks the app's whole
    fan-out index, which costs the app's device count per batch.
    """
    users = list(set(user_ids))
    if not users:
        return []
    if _pg(connection):
        rows = connection.exec_driver_sql(_DEVICES_POSTGRESQL, (users, app_id)).all()
        return sorted(EventDevice(*row) for row in rows)
    ids, owners, providers, locales = _columns(
        connection,
        "SELECT json_group_array(id), json_group_array(user_id), json_group_array(provider),"
        " json_group_array(locale) FROM devices"
        " WHERE user_id IN (SELECT value FROM json_each(?)) AND +app_id = ? AND +active",
        (json.dumps(users), app_id), 4)
    return sorted(map(EventDevice, ids, owners, providers, locales))


def take_cooldown(connection: Connection, message_id: int, user_ids: Sequence[int], *, now: datetime,
                  since: datetime) -> set[int]:
    """Start the message's cooldown for each user whose last one ended; returns those users.

    ``since`` is ``now - cooldown``: a user passes when the message was never
    sent to them or last sent at or before it. Users must be distinct.
    """
    if not user_ids:
        return set()
    if _pg(connection):
        rows = connection.exec_driver_sql(
            "INSERT INTO message_cooldowns (user_id, message_id, last_sent_at)"
            " SELECT u, %s, %s FROM unnest(%s::bigint[]) AS t(u)"
            " ON CONFLICT (user_id, message_id) DO UPDATE SET last_sent_at = excluded.last_sent_at"
            " WHERE message_cooldowns.last_sent_at <= %s RETURNING user_id",
            (message_id, now, list(user_ids), since),
        ).all()
    else:
        rows = connection.exec_driver_sql(
            "INSERT INTO message_cooldowns (user_id, message_id, last_sent_at)"
            " SELECT value, ?, ? FROM json_each(?) WHERE true"
            " ON CONFLICT (user_id, message_id) DO UPDATE SET last_sent_at = excluded.last_sent_at"
            " WHERE message_cooldowns.last_sent_at <= ? RETURNING user_id",
            (message_id, sqlite_timestamp(now), json.dumps(list(user_ids)), sqlite_timestamp(since)),
        ).all()
    return {row[0] for row in rows}


def take_cap(connection: Connection, user_ids: Sequence[int], *, window_start: int, cap: int) -> set[int]:
    """Count one notification for each user still under ``cap`` in the window; returns those users.

    One row per user holds the current fixed window (``window_start``, epoch
    seconds) and its count; a row of an older window starts over at 1.
    Users must be distinct.
    """
    if not user_ids:
        return set()
    tail = (" ON CONFLICT (user_id) DO UPDATE SET"
            " count = CASE WHEN user_caps.window_start = excluded.window_start THEN user_caps.count + 1"
            " ELSE 1 END, window_start = excluded.window_start"
            " WHERE user_caps.window_start <> excluded.window_start OR user_caps.count < {cap}"
            " RETURNING user_id")
    if _pg(connection):
        rows = connection.exec_driver_sql(
            "INSERT INTO user_caps (user_id, window_start, count)"
            " SELECT u, %s, 1 FROM unnest(%s::bigint[]) AS t(u)"
            + tail.format(cap="%s"), (window_start, list(user_ids), cap)).all()
    else:
        rows = connection.exec_driver_sql(
            "INSERT INTO user_caps (user_id, window_start, count)"
            " SELECT value, ?, 1 FROM json_each(?) WHERE true"
            + tail.format(cap="?"), (window_start, json.dumps(list(user_ids)), cap)).all()
    return {row[0] for row in rows}


def refund_cap(connection: Connection, user_ids: Sequence[int], *, window_start: int) -> None:
    """Give back what :func:`take_cap` counted for users whose notification did not go out after all."""
    if not user_ids:
        return
    if _pg(connection):
        connection.exec_driver_sql(
            "UPDATE user_caps SET count = count - 1 WHERE window_start = %s AND count > 0"
            " AND user_id = ANY(%s::bigint[])", (window_start, list(user_ids)))
    else:
        connection.exec_driver_sql(
            "UPDATE user_caps SET count = count - 1 WHERE window_start = ? AND count > 0"
            " AND user_id IN (SELECT value FROM json_each(?))", (window_start, json.dumps(list(user_ids))))


def cap_count(connection: Connection, user_id: int, *, window_start: int) -> int:
    marker = "%s" if _pg(connection) else "?"
    value = connection.exec_driver_sql(
        f"SELECT count FROM user_caps WHERE user_id = {marker} AND window_start = {marker}",
        (user_id, window_start)).scalar()
    return int(value or 0)


__all__ = [
    "EventDevice",
    "EventUser",
    "active_devices",
    "cap_count",
    "find_users",
    "refund_cap",
    "refused",
    "replace_optouts",
    "take_cap",
    "take_cooldown",
    "user_optout_ids",
]
