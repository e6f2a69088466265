"""Delivery jobs completed in batches: one write for every job that finished meanwhile.

A direct send (a login code to one token) is a job of one device, and its
completion was one write transaction of its own, beside the outcome write
and the claim; on SQLite every one of them takes the file's one write lock.
Under a stream of direct sends, jobs finish while a completion is being
written: they wait for it and are then written together. The first
completion is written at once, so an idle worker adds no delay.

A job is completed only after its outcomes are durable
(:meth:`OutcomeRecorder.flush`, docs/architecture.md §6): the batch holds
jobs whose callers already waited for that, and a crash before the batch
is written leaves them leased, to run again after their lease and find
their outcomes recorded.
"""

from __future__ import annotations

import asyncio

from pushgate.queue import Queue


class JobCompletions:
    """``await complete(job_id)`` returns once the job is marked done (see the module docstring)."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0  # transactions written (for the tests and the curious)

    async def complete(self, job_id: str) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((job_id, done))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await asyncio.to_thread(self._queue.complete, [job_id for job_id, _ in batch])
            except Exception as exc:  # each caller sees the failure of its own completion
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():  # a caller cancelled meanwhile (the worker stopping)
                        done.set_result(None)
            self.writes += 1


__all__ = ["JobCompletions"]
