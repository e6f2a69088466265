"""The SQL of one bulk-import chunk (:mod:`pushgate.registry.bulk`): upsert devices by token.

PostgreSQL: the chunk is streamed with ``COPY … FROM STDIN`` (binary) into
a temporary staging table dropped at commit, then a few set-based
statements do the rest — the users the rows name, one ``INSERT … SELECT …
ON CONFLICT DO UPDATE`` for the devices, and the tag rows. Row by row
statements (even pipelined by ``executemany``) cost PostgreSQL a parse,
plan and execute each; ``COPY`` is its bulk-load path
(https://www.postgresql.org/docs/current/populate.html#POPULATE-COPY-FROM).
The upsert tells an inserted row from an updated one by its ``xmax``
(0 for a row version this statement inserted), so the counts come back
with the write; concurrent registrations of the same tokens are resolved
by the unique index like any other upsert.

SQLite: the write lock is held for the whole transaction (``BEGIN
IMMEDIATE``), so nothing can insert behind the import's back: the users
and then the devices are each one ``INSERT … SELECT … FROM json_each`` of
the chunk, encoded as JSON in the caller's thread (:meth:`ChunkWriter.prepare`);
:func:`_sqlite_chunk` says why one statement rather than ``executemany``.

Either way the stored result is the one :func:`register_device` gives
for each row: fields not given keep their stored value, the device is
active again, ``registered_at``, ``updated_at`` and ``last_seen_at`` move
to now, tags given replace the device's tags.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from pushgate.registry._types import sqlite_timestamp
from pushgate.registry.constants import SQLITE_IMPORT_CHECKPOINT_PAGES
from pushgate.registry.db import Database
from pushgate.registry.device_specs import CleanDevice
from pushgate.registry.devices import evict_beyond_limit

Key = tuple[str, bytes]  # (provider, token hash): a device's identity within an app

# Optional fields an upsert leaves alone when a row does not give them.
_KEEP_IF_NULL = ("p256dh", "auth", "platform", "app_version", "locale", "timezone", "name", "device_id")
# SQLite: a chunk's rows travel as one JSON array of arrays (these fields, in this order) and
# their token hashes as one blob of _HASH_SIZE bytes per row, since JSON has no bytes.
_SQLITE_ROW_FIELDS = ("provider", "token", "user", *_KEEP_IF_NULL)
_HASH_SIZE = 32
_LOOKUP_SLICE = 500  # bound parameters per IN list (SQLite allows 32,766; small lists plan well)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk's rows (one per token) and the users they name, in order of first mention; on
    SQLite also the rows encoded for its statements (:func:`_sqlite_chunk`)."""

    latest: Mapping[Key, CleanDevice]
    users: list[str]
    sqlite_rows: str = ""  # a JSON array of arrays of _SQLITE_ROW_FIELDS
    sqlite_hashes: bytes = b""  # the rows' token hashes, _HASH_SIZE bytes each


class ChunkWriter:
    """Writes an import's chunks, each in its own transaction, on one connection held throughout.

    PostgreSQL: the staging table is created once per import (``ON COMMIT DELETE ROWS`` empties
    it at each chunk's commit) rather than once per chunk, and dropped at the end.

    SQLite: the connection checkpoints the WAL less often while it imports. By default a commit
    that leaves more than 1,000 pages in the WAL copies them back into the database file and
    syncs it (https://www.sqlite.org/wal.html#automatic_checkpoint). A chunk's random inserts
    into the token index dirty pages all over it, so checkpointing after every chunk writes the
    same pages again and again; with ``SQLITE_IMPORT_CHECKPOINT_PAGES`` they are written back
    once per several chunks. The connection's setting is restored, and the WAL checkpointed, at
    the end.

    Whatever the connection was changed with is undone by :meth:`close`; a connection that
    cannot be restored is discarded from the pool rather than returned to it.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._stack = contextlib.ExitStack()
        self._connection: Connection | None = None

    def prepare(self, latest: Mapping[Key, CleanDevice]) -> Chunk:
        """The chunk :meth:`write` takes, encoded in the caller's thread (the writer's is the busier)."""
        users = list(dict.fromkeys(c.user for c in latest.values() if c.user is not None))
        if not self._db.is_sqlite:
            return Chunk(latest, users)
        rows = json.dumps([[c.provider, c.token, c.user, c.p256dh, c.auth, c.platform, c.app_version,
                            c.locale, c.timezone, c.name, c.device_id] for c in latest.values()])
        return Chunk(latest, users, rows, b"".join(c.token_hash for c in latest.values()))

    def write(self, app_id: int, chunk: Chunk, limit: int | None, now: datetime) -> tuple[int, int]:
        """Store one chunk; returns (devices created, devices evicted)."""
        connection = self._connection or self._open()
        with connection.begin(), Session(bind=connection) as session:
            return upsert_chunk(session, app_id, chunk, limit, now)

    def _open(self) -> Connection:
        connection = self._stack.enter_context(self._db.connection())
        driver = connection.connection.driver_connection
        assert driver is not None
        undo: list[str] = []
        if self._db.is_sqlite:
            [(previous,)] = driver.execute("PRAGMA wal_autocheckpoint")
            driver.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_IMPORT_CHECKPOINT_PAGES}")
            undo = [f"PRAGMA wal_autocheckpoint = {int(previous)}", "PRAGMA wal_checkpoint(PASSIVE)"]
        else:
            with connection.begin():
                connection.exec_driver_sql(_PG_CREATE_STAGE)
            undo = [f"DROP TABLE IF EXISTS pg_temp.{_STAGE}"]

        def restore() -> None:
            try:
                if self._db.is_sqlite:  # outside a transaction: a checkpoint cannot run inside one
                    for statement in undo:
                        driver.execute(statement)
                    return
                with connection.begin():
                    for statement in undo:
                        connection.exec_driver_sql(statement)
            except Exception:
                connection.invalidate()  # closed, not pooled: nothing it was changed with survives
                raise

        self._stack.callback(restore)
        self._connection = connection
        return connection

    def close(self) -> None:
        self._connection = None
        self._stack.close()


def upsert_chunk(
    session: Session, app_id: int, chunk: Chunk, limit: int | None, now: datetime
) -> tuple[int, int]:
    """Store one chunk; returns (devices created, devices evicted)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        created, user_ids = _postgres_chunk(connection, app_id, chunk, bool(limit), now)
    else:
        created, user_ids = _sqlite_chunk(connection, app_id, chunk, bool(limit), now)
    evicted = evict_beyond_limit(session, user_ids, limit, now=now) if limit and user_ids else 0
    return created, evicted


# -- PostgreSQL ----------------------------------------------------------------------------------

_STAGE = "pushgate_import_rows"
_STAGE_COLUMNS = (
    ("ordinal", "int4"), ("provider", "text"), ("token", "text"), ("token_hash", "bytea"), ("p256dh", "text"),
    ("auth", "text"), ("external_id", "text"), ("platform", "text"), ("app_version", "text"),
    ("locale", "text"), ("timezone", "text"), ("name", "text"), ("device_id", "text"),
    ("tags", "text[]"),
)
_PG_CREATE_STAGE = (
    f"CREATE TEMPORARY TABLE {_STAGE} ("
    + ", ".join(f"{name} {kind}" for name, kind in _STAGE_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
_PG_COPY = f"COPY {_STAGE} ({', '.join(name for name, _ in _STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# Rows are inserted in the order given, as one registration after another would be: ids follow
# the input (and user ids the first mention of each user).
_PG_USERS = (
    "INSERT INTO users (app_id, external_id, created_at, updated_at)"
    f" SELECT %(app)s, external_id, %(now)s::timestamptz, %(now)s::timestamptz FROM {_STAGE}"
    " WHERE external_id IS NOT NULL GROUP BY external_id ORDER BY min(ordinal)"
    " ON CONFLICT (app_id, external_id) DO NOTHING"
)
_PG_UPSERT = (
    "INSERT INTO devices AS d (app_id, provider, token, token_hash, user_id, "
    + ", ".join(_KEEP_IF_NULL)
    + ", active, created_at, updated_at, registered_at, last_seen_at)"
    " SELECT %(app)s, s.provider, s.token, s.token_hash,"
    # A lookup per row by the unique index: a join would hash all the app's users for every chunk
    # whenever the planner misjudges the sizes (the staging table is never analyzed).
    " (SELECT u.id FROM users u WHERE u.app_id = %(app)s AND u.external_id = s.external_id), "
    + ", ".join(f"s.{name}" for name in _KEEP_IF_NULL)
    + ", true, %(now)s, %(now)s, %(now)s, %(now)s"
    f" FROM {_STAGE} s ORDER BY s.ordinal"
    " ON CONFLICT (app_id, token_hash, provider) DO UPDATE SET "
    + ", ".join(f"{name} = COALESCE(EXCLUDED.{name}, d.{name})" for name in (*_KEEP_IF_NULL, "user_id"))
    + ", active = true, inactive_reason = NULL, unregistered_at = NULL,"
    " registered_at = EXCLUDED.registered_at, updated_at = EXCLUDED.updated_at,"
    " last_seen_at = EXCLUDED.last_seen_at"
)
# xmax is 0 in a row version this statement inserted, our transaction id in one it updated.
_PG_UPSERT_COUNT = (
    f"WITH written AS ({_PG_UPSERT} RETURNING d.xmax = 0 AS inserted)"
    " SELECT count(*) FILTER (WHERE inserted) FROM written"
)
_PG_UPSERT_IDS = f"{_PG_UPSERT} RETURNING d.provider, d.token_hash, d.id, d.xmax = 0"
_PG_COPY_TAGS = "COPY device_tags (device_id, tag) FROM STDIN (FORMAT BINARY)"


def _postgres_chunk(
    connection: Connection, app_id: int, chunk: Chunk, need_users: bool, now: datetime
) -> tuple[int, list[int]]:
    driver = connection.connection.driver_connection  # psycopg 3's Connection, in this transaction
    assert driver is not None
    params = {"app": app_id, "now": now}
    latest, users = chunk.latest, chunk.users
    tagged: dict[Key, list[str]] = {}
    with driver.cursor() as cursor:
        with cursor.copy(_PG_COPY) as copy:
            copy.set_types([kind for _, kind in _STAGE_COLUMNS])
            write = copy.write_row
            for ordinal, (key, c) in enumerate(latest.items()):
                write((ordinal, c.provider, c.token, c.token_hash, c.p256dh, c.auth, c.user, c.platform,
                       c.app_version, c.locale, c.timezone, c.name, c.device_id, c.tags))
                if c.tags is not None:
                    tagged[key] = c.tags
        if users:
            cursor.execute(_PG_USERS, params)
        if not tagged:
            cursor.execute(_PG_UPSERT_COUNT, params)
            row = cursor.fetchone()
            created = int(row[0]) if row else 0
        else:
            cursor.execute(_PG_UPSERT_IDS, params)
            written = {(provider, bytes(hashed)): (device_id, inserted)
                       for provider, hashed, device_id, inserted in cursor.fetchall()}
            created = sum(1 for _, inserted in written.values() if inserted)
            _replace_tags(cursor, {written[key]: tags for key, tags in tagged.items()})
        user_ids: list[int] = []
        if users and need_users:
            cursor.execute("SELECT id FROM users WHERE app_id = %s AND external_id = ANY(%s)",
                           (app_id, users))
            user_ids = [user_id for (user_id,) in cursor.fetchall()]
    return created, user_ids


def _replace_tags(cursor: Any, tagged: dict[tuple[int, bool], list[str]]) -> None:
    """Tags given replace a device's tags; a device this chunk inserted has none yet."""
    stale = [device_id for device_id, inserted in tagged if not inserted]
    if stale:
        cursor.execute("DELETE FROM device_tags WHERE device_id = ANY(%s)", (stale,))
    with cursor.copy(_PG_COPY_TAGS) as copy:
        copy.set_types(["int8", "text"])
        for (device_id, _), tags in tagged.items():
            for tag in tags:
                copy.write_row((device_id, tag))


# -- SQLite --------------------------------------------------------------------------------------

_SQLITE_COLUMNS = (
    "app_id", "provider", "token", "token_hash", "user_id", *_KEEP_IF_NULL, "active", "created_at",
    "updated_at", "registered_at", "last_seen_at",
)


def _field(name: str) -> str:
    return f"json_extract(j.value, '$[{_SQLITE_ROW_FIELDS.index(name)}]')"


_SQLITE_UPSERT = (
    f"INSERT INTO devices ({', '.join(_SQLITE_COLUMNS)})"
    f" SELECT :app, {_field('provider')}, {_field('token')},"
    f" substr(:hashes, j.key * {_HASH_SIZE} + 1, {_HASH_SIZE}),"  # substr() of a blob is a blob
    f" (SELECT id FROM users WHERE app_id = :app AND external_id = {_field('user')}), "
    + ", ".join(_field(name) for name in _KEEP_IF_NULL)
    # "WHERE true" keeps SQLite from reading ON CONFLICT as a join's ON (https://www.sqlite.org/lang_upsert.html)
    + ", 1, :now, :now, :now, :now FROM json_each(:rows) j WHERE true"
    " ON CONFLICT (app_id, token_hash, provider) DO UPDATE SET "
    + ", ".join(f"{name} = COALESCE(excluded.{name}, {name})" for name in (*_KEEP_IF_NULL, "user_id"))
    + ", active = 1, inactive_reason = NULL, unregistered_at = NULL, registered_at = excluded.registered_at,"
    " updated_at = excluded.updated_at, last_seen_at = excluded.last_seen_at"
)
_SQLITE_USERS = (
    "INSERT INTO users (app_id, external_id, created_at, updated_at)"
    " SELECT :app, value, :now, :now FROM json_each(:users) WHERE true"
    " ON CONFLICT (app_id, external_id) DO NOTHING"
)


def _sqlite_chunk(
    connection: Connection, app_id: int, chunk: Chunk, need_users: bool, now: datetime
) -> tuple[int, list[int]]:
    """The users, then the devices, each in one statement over ``json_each``. The write lock is
    held (BEGIN IMMEDIATE), so the rows this chunk creates are exactly those with an id above the
    largest one before it: SQLite gives a new row the largest rowid plus one
    (https://www.sqlite.org/autoinc.html).

    One statement, not ``executemany``: the sqlite3 module lets go of the GIL around every step
    of a statement, and while another thread validates the next chunk, taking the GIL back after
    each of thousands of row-sized steps can wait out that thread's switch interval (5 ms by
    default, ``sys.getswitchinterval``). An ``INSERT … SELECT`` is one step: the GIL is let go
    once for the whole chunk, and the two threads run side by side.
    """
    driver = connection.connection.driver_connection  # sqlite3's Connection, in this transaction
    assert driver is not None
    cursor = driver.cursor()
    params: dict[str, Any] = {"app": app_id, "now": sqlite_timestamp(now)}
    if chunk.users:
        cursor.execute(_SQLITE_USERS, {**params, "users": json.dumps(chunk.users)})
    [(before,)] = cursor.execute("SELECT coalesce(max(id), 0) FROM devices")
    cursor.execute(_SQLITE_UPSERT, {**params, "rows": chunk.sqlite_rows, "hashes": chunk.sqlite_hashes})
    [(created,)] = cursor.execute("SELECT count(*) FROM devices WHERE id > ?", (before,))
    tagged = {key: c.tags for key, c in chunk.latest.items() if c.tags is not None}
    if tagged:
        ids = _sqlite_lookup(
            cursor, "SELECT provider, token_hash, id FROM devices WHERE app_id = ? AND token_hash IN ({})",
            app_id, list({key[1] for key in tagged}),
        )
        cursor.executemany("DELETE FROM device_tags WHERE device_id = ?", [(ids[key],) for key in tagged])
        cursor.executemany("INSERT INTO device_tags (device_id, tag) VALUES (?, ?)", [
            (ids[key], tag) for key, tags in tagged.items() for tag in tags or ()
        ])
    user_ids: list[int] = []
    if chunk.users and need_users:
        user_ids = list(_sqlite_lookup(
            cursor, "SELECT external_id, id FROM users WHERE app_id = ? AND external_id IN ({})",
            app_id, chunk.users,
        ).values())
    cursor.close()
    return int(created), user_ids


def _sqlite_lookup(cursor: Any, query: str, app_id: int, values: list[Any]) -> dict[Any, int]:
    """Rows of ``query`` (key columns, then an id) for ``values``, one slice of IN list at a time."""
    found: dict[Any, int] = {}
    for start in range(0, len(values), _LOOKUP_SLICE):
        part = values[start:start + _LOOKUP_SLICE]
        for *key, row_id in cursor.execute(query.format(", ".join("?" * len(part))), (app_id, *part)):
            found[key[0] if len(key) == 1 else (key[0], bytes(key[1]))] = row_id
    return found
