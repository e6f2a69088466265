"""Bulk device import: an iterable of rows in, counts and per-row errors out.

Rows are consumed in chunks (memory stays flat for any input size), each
chunk in its own transaction so a million-row import never holds the
write lock for long and a failure loses at most one chunk. A bad row is
reported with its index and field and skipped; the others are stored.

Per chunk the work is a handful of statements whatever its size: one
lookup of existing tokens, one ``executemany`` INSERT … ON CONFLICT DO
NOTHING (rows a concurrent registration inserted first become updates) and
a lookup of the new ids, one executemany UPDATE for re-imported tokens
(fields not given keep their value), and the tag rows. Rows are upserted
by token; unlike :func:`register_device`, an import does not replace a
rotated token by installation id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from pushgate.registry._errors import ValidationError
from pushgate.registry._types import sqlite_timestamp
from pushgate.registry.apps import require_app
from pushgate.registry.constants import IMPORT_CHUNK_SIZE
from pushgate.registry.db import Database, placeholders
from pushgate.registry.devices import CleanDevice, DeviceSpec, clean_spec, evict_beyond_limit
from pushgate.registry.models import device_tags_table, utcnow
from pushgate.registry.users import ensure_users
from pushgate.registry.validation import DEFAULT_POLICY, ValidationPolicy

T = TypeVar("T")
_KEEP_IF_NULL = ("p256dh", "auth", "platform", "app_version", "locale", "timezone", "name", "device_id")


@dataclass(frozen=True, slots=True)
class RowError:
    index: int  # position of the row in the input, from 0
    field: str
    message: str


@dataclass(slots=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    evicted: int = 0
    errors: list[RowError] = field(default_factory=list)


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_devices(
    db: Database,
    app_id: int,
    rows: Iterable[DeviceSpec | Mapping[str, Any]],
    *,
    policy: ValidationPolicy = DEFAULT_POLICY,
    chunk_size: int = IMPORT_CHUNK_SIZE,
    default_max_devices: int | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Register many devices; rows are DeviceSpec or JSON objects (``DeviceSpec.from_mapping``)."""
    with db.session(write=False) as session:
        limit = require_app(session, app_id).setting("max_devices_per_user") or default_max_devices
    result = ImportResult()
    for batch in _batches(enumerate(rows), chunk_size):
        cleaned: list[CleanDevice] = []
        for index, row in batch:
            try:
                if isinstance(row, DeviceSpec):
                    spec = row
                elif isinstance(row, Mapping):
                    spec = DeviceSpec.from_mapping(row)
                else:
                    raise ValidationError("row", "must be an object")
                cleaned.append(clean_spec(spec, policy))
            except ValidationError as exc:
                result.errors.append(RowError(index, exc.field, exc.message))
        if cleaned:
            with db.session() as session:
                _import_chunk(session, app_id, cleaned, limit, result, now or utcnow())
    return result


_COLUMNS = (
    "app_id", "provider", "token", "token_hash", "p256dh", "auth", "user_id", "platform", "app_version",
    "locale", "timezone", "name", "device_id", "active", "created_at", "updated_at", "registered_at",
    "last_seen_at",
)
_INSERT = (
    f"INSERT INTO devices ({', '.join(_COLUMNS)}) VALUES ({{}}) "
    "ON CONFLICT (app_id, token_hash, provider) DO NOTHING"
)
_UPDATE = (
    "UPDATE devices SET "
    + ", ".join(f"{name} = COALESCE({{m}}, {name})" for name in (*_KEEP_IF_NULL, "user_id"))
    + ", active = {m}, inactive_reason = NULL, unregistered_at = NULL, registered_at = {m},"
    " updated_at = {m}, last_seen_at = {m} WHERE id = {m}"
)


def _import_chunk(
    session: Session,
    app_id: int,
    cleaned: list[CleanDevice],
    limit: int | None,
    result: ImportResult,
    now: datetime,
) -> None:
    """Upsert one chunk. Plain tuples go to the driver's executemany (see ``db.placeholders``)."""
    latest = {(c.provider, c.token_hash): c for c in cleaned}  # a later row for the same token wins
    users = ensure_users(session, app_id, (c.user for c in latest.values() if c.user), now=now)
    connection = session.connection()
    marker = placeholders(connection, 1)
    stamp = sqlite_timestamp(now) if connection.dialect.name == "sqlite" else now

    def lookup(keys: list[tuple[str, bytes]]) -> dict[tuple[str, bytes], int]:
        found = connection.exec_driver_sql(
            f"SELECT id, provider, token_hash FROM devices WHERE app_id = {marker}"
            f" AND token_hash IN ({placeholders(connection, len(keys))})",
            (app_id, *(key[1] for key in keys)),
        )
        return {(provider, bytes(hashed)): device_id for device_id, provider, hashed in found}

    existing = lookup(list(latest))
    new_keys = [key for key in latest if key not in existing]
    ids: dict[tuple[str, bytes], int] = dict(existing)
    to_update: dict[tuple[str, bytes], int] = {}
    if new_keys:
        rows = []
        for key in new_keys:
            c = latest[key]
            rows.append((
                app_id, c.provider, c.token, c.token_hash, c.p256dh, c.auth, users.get(c.user or ""),
                c.platform, c.app_version, c.locale, c.timezone, c.name, c.device_id, True,
                stamp, stamp, stamp, stamp,
            ))
        inserted = connection.exec_driver_sql(_INSERT.format(placeholders(connection, len(_COLUMNS))), rows)
        created = lookup(new_keys)
        ids.update(created)
        result.created += inserted.rowcount
        result.updated += len(new_keys) - inserted.rowcount
        if inserted.rowcount != len(new_keys):
            # A concurrent registration inserted some of them first; which ones is
            # unknown, so update them all (a no-op for the rows inserted here).
            to_update.update(created)

    result.updated += len(existing)
    to_update.update(existing)
    if to_update:
        params = []
        for key, device_id in to_update.items():
            c = latest[key]
            params.append((
                *(getattr(c, name) for name in _KEEP_IF_NULL), users.get(c.user or ""),
                True, stamp, stamp, stamp, device_id,
            ))
        connection.exec_driver_sql(_UPDATE.format(m=marker), params)

    tagged = {ids[key]: clean.tags for key, clean in latest.items() if clean.tags is not None}
    if tagged:
        connection.execute(delete(device_tags_table).where(device_tags_table.c.device_id.in_(tagged)))
        tag_rows = [{"device_id": i, "tag": tag} for i, tags in tagged.items() for tag in tags or ()]
        if tag_rows:
            connection.execute(insert(device_tags_table), tag_rows)
    if limit and users:
        result.evicted += evict_beyond_limit(session, users.values(), limit, now=now)
