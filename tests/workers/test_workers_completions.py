"""Delivery jobs that finish while a completion is being written are completed together."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from pushgate.queue import Job, JobStatus, SqlQueue
from pushgate.registry import Database
from pushgate.workers.completions import JobCompletions


class _HeldQueue(SqlQueue):
    """The SQL queue, whose first ``complete`` waits until the test lets it write."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[list[str]] = []

    def complete(self, ids: Sequence[str]) -> int:
        self.calls.append(list(ids))
        if len(self.calls) == 1:
            self.entered.set()
            self.release.wait(10)
        return super().complete(ids)


def _claimed(queue: SqlQueue, count: int) -> list[str]:
    queue.enqueue([Job(f"job-{n}", "deliver:apns:direct", {"n": n}) for n in range(count)])
    return [job.id for job in queue.claim(["deliver:apns:direct"], worker="w", limit=count, lease_seconds=60)]


@pytest.mark.asyncio
async def test_jobs_finishing_during_a_completion_are_written_in_one_more_transaction(
    database: Database,
) -> None:
    queue = _HeldQueue(database)
    ids = _claimed(queue, 6)
    completions = JobCompletions(queue)
    first = asyncio.ensure_future(completions.complete(ids[0]))
    await asyncio.to_thread(queue.entered.wait, 10)  # the first one is being written, at once
    others = [asyncio.ensure_future(completions.complete(job_id)) for job_id in ids[1:]]
    await asyncio.sleep(0)
    assert not any(task.done() for task in [first, *others])
    queue.release.set()
    await asyncio.wait_for(asyncio.gather(first, *others), 10)
    assert queue.calls == [ids[:1], ids[1:]]
    assert completions.writes == 2
    assert {queue.get(job_id).status for job_id in ids} == {JobStatus.DONE}  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_failed_write_fails_the_completions_it_held_and_the_next_ones_go_on(
    database: Database,
) -> None:
    queue = _FailingOnce(database)
    ids = _claimed(queue, 2)
    completions = JobCompletions(queue)
    with pytest.raises(RuntimeError, match="database gone"):
        await completions.complete(ids[0])
    await completions.complete(ids[1])
    assert queue.get(ids[1]).status == JobStatus.DONE  # type: ignore[union-attr]
    assert queue.get(ids[0]).status == JobStatus.LEASED  # type: ignore[union-attr]


class _FailingOnce(SqlQueue):
    failed = False

    def complete(self, ids: Sequence[str]) -> int:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database gone")
        return super().complete(ids)
