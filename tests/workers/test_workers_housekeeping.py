"""The worker pool's housekeeping: finished jobs are purged once their retention is over."""

from __future__ import annotations

from pushgate.config import Settings
from pushgate.metrics import Metrics
from pushgate.queue import Job, JobStatus, SqlQueue
from pushgate.registry import Database
from pushgate.simulators._base import ManualClock
from pushgate.workers.constants import KEEP_DONE_SECONDS
from pushgate.workers.pool import WorkerPool

T0 = 1_900_000_000.0


async def test_finished_jobs_are_purged_after_the_retention(database: Database) -> None:
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job(name, "q", {}) for name in ("old", "recent", "dead", "open")])
    queue.claim(["q"], limit=10, lease_seconds=7200, worker="w")
    queue.complete(["old"])
    queue.fail("dead", "BadRequest")
    clock.advance(600)
    queue.complete(["recent"])
    settings = Settings.model_validate({"database_url": database.url.render_as_string(hide_password=False)})
    pool = WorkerPool(settings, database, queue, Metrics(), count=1)  # not started: no loops, no sockets

    assert await pool.purge_finished(T0 + KEEP_DONE_SECONDS) == 0  # nothing is older than that yet
    assert await pool.purge_finished(T0 + KEEP_DONE_SECONDS + 1) == 1
    assert queue.get("old") is None
    assert [queue.get(n).status for n in ("recent", "dead", "open")] == [  # type: ignore[union-attr]
        JobStatus.DONE, JobStatus.FAILED, JobStatus.LEASED,
    ]
    assert queue.enqueue([Job("recent", "q", {})]) == 0  # still known: a late duplicate is ignored
