"""Durable job queues: the interface and the embedded SQL implementation.

Callers depend on :class:`Queue` only; :class:`SqlQueue` runs on the
registry's database (SQLite or PostgreSQL), and a Redis Streams
implementation can replace it without touching them.
"""

from pushgate.queue.base import (
    DEFAULT_MAX_TRIES,
    ClaimedJob,
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
