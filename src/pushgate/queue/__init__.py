"""Durable job queues: the interface and the embedded SQL implementation.

Callers depend on :class:`Queue` only; :class:`SqlQueue` runs on the
registry's database (SQLite or PostgreSQL), and
:class:`~pushgate.queue.redis_streams.RedisQueue` (imported from its module:
it needs the ``redis`` package) replaces it without touching them.
"""

# Importing the package puts both queue tables (jobs, queue_outbox) on the registry metadata.
from pushgate.queue import outbox as _outbox  # noqa: F401
from pushgate.queue.base import (
    DEFAULT_MAX_TRIES,
    ClaimedJob,
    ClaimTier,
    Clock,
    Job,
    JobInfo,
    JobStatus,
    Queue,
    QueueStats,
    system_clock,
)
from pushgate.queue.sql import SqlQueue

__all__ = [
    "DEFAULT_MAX_TRIES",
    "ClaimTier",
    "ClaimedJob",
    "Clock",
    "Job",
    "JobInfo",
    "JobStatus",
    "Queue",
    "QueueStats",
    "SqlQueue",
    "system_clock",
]
