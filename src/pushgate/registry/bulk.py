"""Bulk device import: an iterable of rows in, counts and per-row errors out.

Rows are consumed in chunks (memory stays flat for any input size), each
chunk in its own transaction so a million-row import never holds the
write lock for long and a failure loses at most one chunk. A bad row is
reported with its index and field and skipped; the others are stored.

Per chunk the work is a handful of statements whatever its size: one
lookup of existing tokens, one multi-row INSERT (``executemany``; rows a
concurrent registration inserted first become updates), one executemany
UPDATE for re-imported tokens (fields not given keep their value), and the
tag rows. Rows are upserted by token; unlike :func:`register_device`,
an import does not replace a rotated token by installation id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, String, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from pushgate.registry._errors import ValidationError
from pushgate.registry.apps import require_app
from pushgate.registry.constants import IMPORT_CHUNK_SIZE
from pushgate.registry.db import Database, insert_ignoring
from pushgate.registry.devices import CleanDevice, DeviceSpec, clean_spec, evict_beyond_limit, row_values
from pushgate.registry.models import device_tags_table, devices_table, utcnow
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


def _import_chunk(
    session: Session,
    app_id: int,
    cleaned: list[CleanDevice],
    limit: int | None,
    result: ImportResult,
    now: datetime,
) -> None:
    table = devices_table
    latest = {(c.provider, c.token_hash): c for c in cleaned}  # a later row for the same token wins
    users = ensure_users(session, app_id, (c.user for c in latest.values() if c.user), now=now)
    connection = session.connection()

    def lookup(hashes: list[bytes]) -> dict[tuple[str, bytes], int]:
        found = connection.execute(
            select(table.c.id, table.c.provider, table.c.token_hash).where(
                table.c.app_id == app_id, table.c.token_hash.in_(hashes)
            )
        )
        return {(provider, bytes(hashed)): device_id for device_id, provider, hashed in found}

    existing = lookup([key[1] for key in latest])
    new_keys = [key for key in latest if key not in existing]
    ids: dict[tuple[str, bytes], int] = dict(existing)
    if new_keys:
        inserted = connection.execute(
            insert_ignoring(connection, table, ["app_id", "token_hash", "provider"]).returning(
                table.c.id, table.c.provider, table.c.token_hash
            ),
            [row_values(latest[key], app_id, users.get(latest[key].user or ""), now) for key in new_keys],
        )
        created = {(provider, bytes(hashed)): device_id for device_id, provider, hashed in inserted}
        ids.update(created)
        result.created += len(created)
        lost = [key for key in new_keys if key not in created]  # a concurrent registration won
        if lost:
            raced = lookup([key[1] for key in lost])
            existing.update(raced)
            ids.update(raced)

    if existing:
        values: dict[str, Any] = {
            name: func.coalesce(bindparam(f"b_{name}", type_=String()), table.c[name])
            for name in _KEEP_IF_NULL
        }
        values["user_id"] = func.coalesce(bindparam("b_user_id", type_=BigInteger()), table.c.user_id)
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                active=True, inactive_reason=None, unregistered_at=None,
                registered_at=now, updated_at=now, last_seen_at=now, **values,
            )
        )
        params = []
        for key, device_id in existing.items():
            clean = latest[key]
            param = {f"b_{name}": getattr(clean, name) for name in _KEEP_IF_NULL}
            param.update(b_id=device_id, b_user_id=users.get(clean.user or ""))
            params.append(param)
        connection.execute(statement, params)
        result.updated += len(existing)

    tagged = {ids[key]: clean.tags for key, clean in latest.items() if clean.tags is not None}
    if tagged:
        connection.execute(delete(device_tags_table).where(device_tags_table.c.device_id.in_(tagged)))
        tag_rows = [{"device_id": i, "tag": tag} for i, tags in tagged.items() for tag in tags or ()]
        if tag_rows:
            connection.execute(insert(device_tags_table), tag_rows)
    if limit and users:
        result.evicted += evict_beyond_limit(session, users.values(), limit, now=now)
