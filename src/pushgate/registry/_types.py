"""Column types and clocks shared by the tables and the hot paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an "INTEGER PRIMARY KEY"; PostgreSQL gets bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The registry's notion of now (aware UTC)."""
    return datetime.now(UTC)


def sqlite_timestamp(value: datetime | None) -> str | None:
    """A datetime as UTCDateTime stores it on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff", UTC).

    The hot paths bind tens of thousands of timestamps per second;
    ``isoformat`` writes SQLAlchemy's SQLite format in C, several times
    faster than the generic path.
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both backends.

    SQLite has no time zones: values are stored as naive UTC and come back
    aware, so Python code never compares naive with aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        return sqlite_timestamp

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
