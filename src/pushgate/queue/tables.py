"""The embedded queue's table (see :mod:`pushgate.queue.sql` for how it is used).

It is declared on the registry's ``Base``: the embedded queue lives in the
registry's database, so one metadata and one migration history
(``registry/migrations``, whose environment imports this module) cover
both, while only :mod:`pushgate.queue` queries the table.

``due_at`` is when a job may next be claimed: its run-at while queued, its
lease expiry while leased — so one partial index ``(queue, due_at) WHERE
status IN ('queued','leased')`` serves both the claim and the reclaim of
expired leases. Times are epoch seconds (floats), the unit of the
injectable queue clock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Double, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from pushgate.registry.models import Base
from pushgate.registry.partial_indexes import partial_index

# The claim index's predicate; queries repeat this exact text, which is what
# lets SQLite use a partial index.
ACTIVE = "status IN ('queued', 'leased')"


class JobRow(Base):
    """A queue job of the embedded queue."""

    __tablename__ = "jobs"
    # Partial on both databases; the PostgreSQL predicate is added when PostgreSQL is opened.
    __table_args__ = (partial_index("ix_jobs_claim", "queue", "due_at", where=ACTIVE),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    queue: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8))
    run_at: Mapped[float] = mapped_column(Double)
    due_at: Mapped[float] = mapped_column(Double)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer, default=1)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)


def _core_table() -> Table:
    table = JobRow.__table__
    assert isinstance(table, Table)
    return table


jobs_table = _core_table()  # Core, for the claim and enqueue statements

__all__ = ["ACTIVE", "JobRow", "jobs_table"]
