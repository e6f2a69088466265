"""Delivery outcomes, buffered and written to the registry in bulk.

Why a buffer: one transaction per delivery caps a SQLite file at a few
thousand deliveries a second, and a worker sending 20,000 a second must not
wait for the database between requests. Why a small one: an outcome that is
not yet written is re-sent if the process is killed (the job runs again
after its lease expires and re-sends every device without a delivery row).
So outcomes are written every ``flush_every`` results or ``interval``
seconds after the first unwritten one, in one transaction with the send
counters and the dead-token deactivations; a job waits for
:meth:`OutcomeRecorder.flush` before it completes, so a completed job's
outcomes are always durable.

Write-ahead of the next devices: :meth:`OutcomeRecorder.add` returns the
outcome's sequence number and watchers learn after each commit how far the
written sequence got, so a job frees the window slot of a device only once
its outcome is durable (:mod:`pushgate.workers.window`).

One recorder per process is shared by every job: writes from concurrent
jobs are merged into one transaction instead of queueing on the SQLite
write lock one by one.

Jobs completed with their outcomes: when the queue's jobs live in the
registry's database (``Queue.completion_step``), :meth:`OutcomeRecorder.complete`
marks a job done in the transaction that writes outcomes — its own, which
were added before, or a later batch's. A direct send (one device) then
costs one write after its claim instead of two, and a completed job's
outcomes are durable by construction: they commit together or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pushgate.queue.base import CompletionStep
from pushgate.registry import Database, DeadToken, Outcome
from pushgate.registry.outcome_writer import OutcomeWriter
from pushgate.registry.safe_errors import log_failure
from pushgate.workers.constants import FLUSH_EVERY, FLUSH_INTERVAL, FLUSH_RETRY_SECONDS

logger = logging.getLogger("pushgate.workers")


@dataclass(slots=True)
class _Batch:
    outcomes: dict[tuple[str, str], list[Outcome]] = field(default_factory=dict)
    dead: list[DeadToken] = field(default_factory=list)
    size: int = 0
    upto: int = 0  # sequence number of the last outcome in it
    completions: list[tuple[str, asyncio.Future[None]]] = field(default_factory=list)  # job ids

    def merge_before(self, later: _Batch) -> _Batch:
        """This (older, failed to write) batch followed by ``later``."""
        for key, outcomes in later.outcomes.items():
            self.outcomes.setdefault(key, []).extend(outcomes)
        self.dead.extend(later.dead)
        self.size += later.size
        self.upto = max(self.upto, later.upto)
        self.completions.extend(later.completions)
        return self

    def settle(self) -> None:
        """The batch is written: its completions' callers go on."""
        for _, done in self.completions:
            if not done.done():  # a caller cancelled meanwhile (the worker stopping)
                done.set_result(None)


class OutcomeRecorder:
    """Buffers final outcomes and writes them in bulk (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        flush_every: int = FLUSH_EVERY,
        interval: float = FLUSH_INTERVAL,
        retry: float = FLUSH_RETRY_SECONDS,
        completion_step: CompletionStep | None = None,
    ) -> None:
        self.db = db
        self._writer = OutcomeWriter(db)
        self._completion_step = completion_step
        # Writes run on a thread of their own: a job frees a device's window slot only once
        # its outcome is written, and in the event loop's default executor (six threads on
        # two cores) the writes queued behind the reads of starting jobs and a fan-out.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pushgate-outcomes")
        self.flush_every = flush_every
        self.interval = interval
        self.retry = retry
        self._batch = _Batch()
        self._added = 0  # sequence number of the last outcome added
        self._written = 0  # sequence number of the last outcome written
        self._items = asyncio.Event()  # something to write
        self._urgent = asyncio.Event()  # write now: batch full, or a job waits in flush()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._watchers: set[Callable[[int], None]] = set()
        self.written = 0  # outcomes written so far (observability, tests)
        self.transactions = 0  # batches committed so far (tests)

    def start(self) -> None:
        if self._task is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="pushgate-outcomes")
            self._task = asyncio.create_task(self._run(), name="pushgate-outcome-recorder")

    def add(self, send_id: str, provider: str, outcome: Outcome, dead: DeadToken | None = None) -> int:
        """Buffer one final outcome (and the dead token it reports); never blocks.

        Returns its sequence number: it is durable once a watcher sees that far.
        """
        batch = self._batch
        batch.outcomes.setdefault((send_id, provider), []).append(outcome)
        if dead is not None:
            batch.dead.append(dead)
        batch.size += 1
        self._added += 1
        batch.upto = self._added
        self._items.set()
        if batch.size >= self.flush_every:
            self._urgent.set()
        return self._added

    @property
    def completes_jobs(self) -> bool:
        """Whether :meth:`complete` marks jobs done with the outcomes (see the module docstring)."""
        return self._completion_step is not None

    async def complete(self, job_id: str) -> None:
        """Mark the job done in the transaction that writes the outcomes added so far (its own
        among them), and return once that has committed. Only when :attr:`completes_jobs`."""
        if self._completion_step is None:
            raise RuntimeError("the queue's jobs are not in the registry's database")
        if self._task is None or self._task.done():
            raise RuntimeError("the outcome recorder is not running")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.completions.append((job_id, done))
        self._items.set()
        self._urgent.set()
        await done

    def watch(self, watcher: Callable[[int], None]) -> None:
        """Call ``watcher(sequence)`` after each commit: outcomes up to it are durable."""
        self._watchers.add(watcher)

    def unwatch(self, watcher: Callable[[int], None]) -> None:
        self._watchers.discard(watcher)

    async def flush(self) -> None:
        """Return once every outcome added before the call is written."""
        target = self._added
        if self._written >= target:
            return
        if self._task is None or self._task.done():
            raise RuntimeError("the outcome recorder is not running")
        self._urgent.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= target)

    async def aclose(self) -> None:
        """Write what is buffered and stop."""
        if self._task is None:
            return
        with contextlib.suppress(RuntimeError):
            await self.flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await asyncio.get_running_loop().run_in_executor(self._thread, self._writer.close)
        self._thread.shutdown(wait=False)

    async def _run(self) -> None:
        pending: _Batch | None = None  # a batch whose write failed, written again first
        while True:
            await self._items.wait()
            if not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self.interval)
            self._items.clear()
            self._urgent.clear()
            batch, self._batch = self._batch, _Batch()
            if pending is not None:
                batch = pending.merge_before(batch)
                pending = None
            if batch.size == 0 and not batch.completions:
                continue
            then = self._completion(batch)
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self._thread, self._writer.write, batch.outcomes, batch.dead, then)
            except Exception as exc:
                log_failure(logger, f"writing {batch.size} delivery outcomes failed; retrying", exc)
                pending = batch
                self._items.set()
                await asyncio.sleep(self.retry)
                continue
            batch.settle()
            self.transactions += 1
            if not batch.size:  # completions only: the outcomes' mark stays where it is
                continue
            self.written += batch.size
            async with self._progress:
                self._written = batch.upto
                self._progress.notify_all()
            for watcher in list(self._watchers):
                try:
                    watcher(batch.upto)
                except Exception as exc:  # a job's bookkeeping must not stop the writes
                    log_failure(logger, "an outcome watcher failed", exc)

    def _completion(self, batch: _Batch) -> Callable[[Any], object] | None:
        step = self._completion_step
        if step is None or not batch.completions:
            return None
        ids = [job_id for job_id, _ in batch.completions]
        return lambda cursor: step(cursor, ids)


__all__ = ["OutcomeRecorder"]
