"""Shared request counters for API rate limits: one row per (bucket, window).

The service's limiter (:mod:`pushgate.service.rate_limits`) counts requests
in memory and adds them here in batches; the row's count is what every API
process sharing the database has added in that window. ``add_hits`` is one
atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on both databases
(SQLite 3.35+), so two processes adding at once both see the sum.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, delete, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from pushgate.registry.db import Database
from pushgate.registry.models import Base


class RateLimitWindow(Base):
    """Requests counted in one fixed window (epoch seconds of its start) of one bucket."""

    __tablename__ = "rate_limit_windows"

    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)  # e.g. "key:<api key prefix>"
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)


_w = RateLimitWindow.__table__.c


def add_hits(db: Database, bucket: str, window: int, hits: int) -> int:
    """Add ``hits`` to the bucket's count in ``window``; returns the new total.

    The first addition to a new window also deletes the bucket's older windows.
    """
    if db.is_postgresql:  # imported here: an SQLite process never loads the PostgreSQL dialect (2 MB)
        from sqlalchemy.dialects.postgresql import insert as pg_insert
    insert = pg_insert if db.is_postgresql else sqlite_insert
    values = insert(RateLimitWindow).values(bucket=bucket, window=window, count=hits)
    statement = values.on_conflict_do_update(
        index_elements=["bucket", "window"], set_={"count": _w.count + values.excluded.count}
    ).returning(_w.count)
    with db.connect() as connection:
        total = int(connection.execute(statement).scalar_one())
        if total == hits:  # this window's first batch: forget the finished ones
            connection.execute(delete(RateLimitWindow).where(_w.bucket == bucket, _w.window < window))
        return total


def window_count(db: Database, bucket: str, window: int) -> int:
    """What has been counted so far (0 for a window nobody counted in)."""
    with db.connect(write=False) as connection:
        found = connection.execute(
            select(func.coalesce(func.sum(_w.count), 0)).where(_w.bucket == bucket, _w.window == window)
        ).scalar_one()
        return int(found)


__all__ = ["RateLimitWindow", "add_hits", "window_count"]
