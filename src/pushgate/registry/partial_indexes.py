"""Partial indexes (``CREATE INDEX … WHERE …``) on SQLite and PostgreSQL, with one predicate.

SQLAlchemy has no dialect-neutral ``where`` for an Index: each dialect takes
its own keyword (``sqlite_where``, ``postgresql_where``), and it validates
such a keyword by importing that dialect's package
(``sqlalchemy.sql.base.DialectKWArgs``). For ``postgresql_where`` that is
``sqlalchemy.dialects.postgresql`` with all its drivers, about 2 MB that a
server on SQLite never uses (bench scenario 6, idle RSS).

So :func:`partial_index` declares the SQLite predicate at once, and the
PostgreSQL one the moment a PostgreSQL database is opened
(:class:`pushgate.registry.db.Database` calls :func:`use_postgresql`), before
anything there compiles, creates or compares the index. The migration
scripts spell out both predicates themselves and need none of this.
"""

from __future__ import annotations

import threading

from sqlalchemy import Index, text

_declared: list[tuple[Index, str]] = []
_lock = threading.Lock()
_postgresql_in_use = False


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index on ``columns`` of the rows matching the SQL condition ``where``, on both databases."""
    index = Index(name, *columns, sqlite_where=text(where))
    with _lock:
        _declared.append((index, where))
        if _postgresql_in_use:
            _add_postgresql_where(index, where)
    return index


def use_postgresql() -> None:
    """Give every partial index its PostgreSQL predicate (idempotent; this loads the PostgreSQL dialect)."""
    global _postgresql_in_use
    with _lock:
        if _postgresql_in_use:
            return
        for index, where in _declared:
            _add_postgresql_where(index, where)
        _postgresql_in_use = True


def _add_postgresql_where(index: Index, where: str) -> None:
    # The documented way to set a dialect option after construction: dialect_kwargs is writable
    # (https://docs.sqlalchemy.org/en/20/core/constraints.html#sqlalchemy.schema.Index.dialect_kwargs).
    index.dialect_kwargs["postgresql_where"] = text(where)


__all__ = ["partial_index", "use_postgresql"]
