"""Bulk device import: an iterable of rows in, counts and per-row errors out.

Rows are consumed in chunks (memory stays flat for any input size), each
chunk in its own transaction so a million-row import never holds the
write lock for long and a failure loses at most one chunk. A bad row is
reported with its index and field and skipped; the others are stored.

Rows are upserted by token (a later row for the same token wins within a
chunk; fields not given keep their stored value; a retired device is
reactivated); unlike :func:`register_device`, an import does not replace a
rotated token by installation id. The SQL of a chunk is in
:mod:`pushgate.registry.bulk_sql`: a COPY into a staging table and one
upsert on PostgreSQL, one ``INSERT … SELECT`` over the chunk as JSON on SQLite.

Validating rows is Python work and writing a chunk is mostly the
database's, so the two overlap: while one thread writes chunk *n*, the
caller's thread reads, validates and encodes chunk *n + 1* (the drivers
release the GIL while the database works). At most one chunk is in flight; the caller
sees the writer's exception, if any, and no chunk after it is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pushgate.registry._errors import ValidationError
from pushgate.registry.apps import require_app
from pushgate.registry.bulk_sql import Chunk, ChunkWriter
from pushgate.registry.constants import IMPORT_CHUNK_SIZE
from pushgate.registry.db import Database
from pushgate.registry.device_specs import CleanDevice, DeviceSpec, clean_mapping, clean_spec
from pushgate.registry.endpoint_hosts import with_app_hosts
from pushgate.registry.models import utcnow
from pushgate.registry.validation import DEFAULT_POLICY, ValidationPolicy

T = TypeVar("T")


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
        policy = with_app_hosts(session, app_id, policy)  # once for the whole import
    result = ImportResult()
    chunks = ChunkWriter(db)

    def write(chunk: Chunk) -> None:
        created, evicted = chunks.write(app_id, chunk, limit, now or utcnow())
        result.created += created
        result.updated += len(chunk.latest) - created
        result.evicted += evicted

    with ThreadPoolExecutor(1, thread_name_prefix="pushgate-import") as writer:
        try:
            in_flight: Future[None] | None = None
            for batch in _batches(enumerate(rows), chunk_size):
                cleaned = clean_rows(batch, policy, result.errors)
                chunk = chunks.prepare(cleaned) if cleaned else None
                if in_flight is not None:
                    in_flight.result()  # the previous chunk is stored (or its error raised) first
                    in_flight = None
                if chunk is not None:
                    in_flight = writer.submit(write, chunk)
            if in_flight is not None:
                in_flight.result()
        finally:
            writer.submit(chunks.close).result()  # the connection goes back from the thread that used it
    return result


def clean_rows(
    batch: list[tuple[int, DeviceSpec | Mapping[str, Any]]], policy: ValidationPolicy, errors: list[RowError]
) -> dict[tuple[str, bytes], CleanDevice]:
    """The valid rows by (provider, token hash), a later row for a token replacing an earlier one;
    each invalid row is appended to ``errors``."""
    latest: dict[tuple[str, bytes], CleanDevice] = {}
    for index, row in batch:
        try:
            if isinstance(row, Mapping):
                clean = clean_mapping(row, policy)
            elif isinstance(row, DeviceSpec):
                clean = clean_spec(row, policy)
            else:
                raise ValidationError("row", "must be an object")
        except ValidationError as exc:
            errors.append(RowError(index, exc.field, exc.message))
            continue
        latest[(clean.provider, clean.token_hash)] = clean
    return latest

