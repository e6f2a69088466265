"""The sender workers of one process, with what they share and their housekeeping.

``pushgate serve`` runs a :class:`WorkerPool` of ``settings.workers`` loops
next to the HTTP API in one event loop; ``pushgate worker`` runs one alone.
Both start the same way: re-enqueue the fan-out of any send a crash
interrupted or whose fan-out job ran out of tries (idempotent), then claim.
Housekeeping then counts auth token refreshes, purges finished jobs and
applies retention (:mod:`pushgate.registry.retention`): old deliveries of
finished sends, long-inactive devices and old dead letters, in batches
between which sending goes on.

Sizing: each loop runs up to ``max_jobs`` jobs at once, each with at most
``worker_concurrency / max_jobs`` requests open; the jobs sending to one
(app, delivery lane) share one in-flight window (:mod:`pushgate.workers.window`)
of devices handed to the provider and not yet durably recorded, at most
``worker_concurrency``. The window adapts to rate x latency, usually far
below that maximum, and what the windows hold is all a ``kill -9`` can make
a device receive twice (``pushgate_deliveries_in_flight`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pushgate.planner.fanout import resume_fanouts
from pushgate.planner.replan import replan_lost_deliveries
from pushgate.queue import Queue
from pushgate.queue.base import DueListener
from pushgate.registry import Database
from pushgate.registry.catalog.batches import purge_texts
from pushgate.registry.retention import DEFAULT_BATCH, prune_inactive_devices, purge_deliveries
from pushgate.registry.safe_errors import log_failure
from pushgate.registry.webhooks import purge_webhook_events
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.workers.clients import ClientCache, auth_refreshes
from pushgate.workers.constants import (
    DRAIN_SECONDS,
    KEEP_DONE_SECONDS,
    MAX_JOBS,
    MIN_JOBS,
    PURGE_EVERY_SECONDS,
)
from pushgate.workers.context import WorkerContext
from pushgate.workers.pausebook import PauseBook
from pushgate.workers.recorder import OutcomeRecorder
from pushgate.workers.sender import Worker
from pushgate.workers.webhooks import WebhookDispatcher

logger = logging.getLogger("pushgate.workers")
HOUSEKEEPING_SECONDS = 5.0
RETENTION_BUDGET_SECONDS = 2.0  # per housekeeping round; the rest waits for the next one
DAY = 86400.0


def jobs_per_worker(settings: Settings) -> int:
    """Enough jobs to keep ``worker_concurrency`` requests busy across job boundaries."""
    return max(MIN_JOBS, min(MAX_JOBS, math.ceil(2 * settings.worker_concurrency / settings.chunk_size)))


def worker_name() -> str:
    """The lease owner name of this process: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class WorkerPool:
    """``count`` worker loops sharing one :class:`WorkerContext`."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        queue: Queue,
        metrics: Metrics,
        *,
        count: int | None = None,
        drain: float = DRAIN_SECONDS,
    ) -> None:
        self.settings = settings
        self.count = settings.workers if count is None else count
        self.drain = drain
        self.max_jobs = jobs_per_worker(settings)
        per_job = max(1, settings.worker_concurrency // self.max_jobs)
        self.ctx = WorkerContext(
            settings=settings, db=db, queue=queue, metrics=metrics,
            clients=ClientCache(db, settings, concurrency=per_job),
            recorder=OutcomeRecorder(db, completion_step=queue.completion_step(db)),
            pauses=PauseBook(db, queue, metrics=metrics, on_wake=self.wake),
            notify=self.wake, worker=worker_name(), notified=self._notified,
            webhooks=WebhookDispatcher(settings, db, queue, metrics=metrics),
        )
        self.workers = [
            Worker(self.ctx, max_jobs=self.max_jobs, name=f"worker-{n}") for n in range(self.count)
        ]
        metrics.deliveries_in_flight.set_function(self.ctx.windows.in_flight)
        metrics.delivery_window.set_function(self.ctx.windows.limits)
        self._housekeeping: asyncio.Task[None] | None = None
        self._webhook_polling: asyncio.Task[None] | None = None
        self._refresh_counts: dict[int, int] = {}
        self._resume_pending = False
        self._replan_pending = False  # the queue lost its data and the re-plan has not run yet
        self._listener: DueListener | None = None  # other processes' new jobs (Queue.listen)
        self.started = False

    def wake(self, queue: str | None = None) -> None:
        """Jobs were enqueued (the API calls this with the queue name): claim now."""
        for worker in self.workers:
            worker.wake()

    def _due_elsewhere(self, queue: str | None) -> None:
        """The queue's listener: jobs of ``queue`` became due in some process (None: any)."""
        for worker in self.workers:
            worker.wake(queue)

    def _notified(self) -> bool:
        return self._listener is not None and self._listener.listening

    @property
    def listening(self) -> bool:
        """Whether new jobs of other processes wake these workers (else they look for them)."""
        return self._notified()

    async def start(self) -> None:
        if self.started or not self.workers:
            return
        self.started = True
        ctx = self.ctx
        ctx.recorder.start()
        with contextlib.suppress(Exception):
            await ctx.pauses.refresh()
        ctx.pauses.start()
        # One listener per process, whatever the number of loops; it connects in the background.
        self._listener = ctx.queue.listen(self._due_elsewhere)
        if self._listener is not None:
            self._listener.start()
        await self._resume_fanouts()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(ctx.queue.lost_data)  # plants or reads the marker
        for worker in self.workers:
            worker.start()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="pushgate-housekeeping")
        self._webhook_polling = asyncio.create_task(self._poll_webhooks(), name="pushgate-webhooks")
        logger.info("%d sender workers (%s), %d jobs each, at most %d requests in flight per job",
                    self.count, ctx.worker, self.max_jobs, ctx.clients.concurrency)

    async def stop(self) -> None:
        """Graceful: stop claiming, drain in-flight jobs, write outcomes, close clients."""
        if not self.started:
            return
        self.started = False
        await asyncio.gather(*(worker.stop(self.drain) for worker in self.workers))
        for task in (self._housekeeping, self._webhook_polling):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._listener is not None:
            await self._listener.aclose()
            self._listener = None
        ctx = self.ctx
        if ctx.webhooks is not None:
            await ctx.webhooks.aclose()
        await ctx.recorder.aclose()
        ctx.retry_log.flush()  # the retries held back by its rate limit
        await ctx.pauses.aclose()
        self._count_auth_refreshes()
        await ctx.clients.aclose()
        logger.info("sender workers stopped")

    async def _resume_fanouts(self) -> None:
        """Re-enqueue interrupted and failed fan-outs; a database still starting is retried later."""
        try:
            resumed = await asyncio.to_thread(resume_fanouts, self.ctx.db, self.ctx.queue)
        except Exception as exc:
            log_failure(logger, "resuming interrupted fan-outs failed; retrying", exc, level=logging.WARNING)
            self._resume_pending = True
            return
        self._resume_pending = False
        if resumed:
            logger.info("resumed the fan-out of %d interrupted or failed sends", resumed)
            self.wake()

    async def _queue_lost_data(self) -> bool:
        try:
            lost = await asyncio.to_thread(self.ctx.queue.lost_data)
        except Exception:  # the queue is away: the claims say so already
            return False
        if lost:
            logger.error(
                "the queue lost its data (Redis restarted without persistence, flushed, or failed over "
                "to an empty replica): its jobs are gone; re-planning the unfinished sends "
                "(docs/scale-out.md §5: run Redis with appendonly yes)"
            )
        return lost

    async def _replan_lost(self) -> None:
        settings = self.ctx.settings
        try:
            done = await asyncio.to_thread(replan_lost_deliveries, self.ctx.db, self.ctx.queue,
                                           chunk_size=settings.chunk_size, max_tries=settings.max_tries)
        except Exception as exc:
            log_failure(logger, "re-planning the lost delivery jobs failed; retrying", exc)
            self._replan_pending = True  # the loss is told once: keep it until the re-plan ran
            return
        self._replan_pending = False
        logger.warning(
            "re-planned %d deliveries of %d sends in %d jobs after the queue lost its data; "
            "%d pending deliveries were not found again (their devices left the audience), "
            "%d FCM topic or event sends were not re-planned",
            done.devices, done.sends, done.jobs, done.unfound, done.skipped,
        )
        self.wake()

    async def _housekeep(self) -> None:
        last_purge = 0.0
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            if await self._queue_lost_data() or self._replan_pending:
                await self._resume_fanouts()
                await self._replan_lost()
            elif self._resume_pending:
                await self._resume_fanouts()
            self._count_auth_refreshes()
            now = time.time()
            if now - last_purge >= PURGE_EVERY_SECONDS:
                last_purge = now
                await self.purge_finished(now)
                await self.apply_retention(now)

    async def _poll_webhooks(self) -> None:
        """Enqueue the drain jobs of webhooks with events waiting (pushgate.workers.webhooks)."""
        dispatcher = self.ctx.webhooks
        if dispatcher is None:
            return
        while True:
            await asyncio.sleep(self.settings.webhook_poll_seconds)
            try:
                if await dispatcher.schedule():
                    self.wake()
            except Exception as exc:
                log_failure(logger, "looking for webhook events failed", exc, level=logging.WARNING)

    async def apply_retention(self, now: float, *, budget: float = RETENTION_BUDGET_SECONDS) -> int:
        """Delete what the retention settings say is old; returns the rows deleted.

        Batches of ``DEFAULT_BATCH`` rows, each its own short transaction in a
        thread, until nothing is left or ``budget`` seconds are spent (the
        rest waits for the next round), so a backlog after an upgrade never
        holds the database for long.
        """
        settings, db = self.settings, self.ctx.db
        passes: list[Callable[[], int]] = []
        if settings.deliveries_retention_days is not None:
            cutoff = datetime.fromtimestamp(now - settings.deliveries_retention_days * DAY, UTC)
            passes.append(partial(purge_deliveries, db, finished_before=cutoff))
            passes.append(partial(purge_webhook_events, db, older_than=cutoff))
        if settings.inactive_devices_retention_days is not None:
            cutoff = datetime.fromtimestamp(now - settings.inactive_devices_retention_days * DAY, UTC)
            passes.append(partial(prune_inactive_devices, db, inactive_before=cutoff))
        if settings.failed_jobs_retention_days is not None:
            older_than = now - settings.failed_jobs_retention_days * DAY
            passes.append(partial(self.ctx.queue.purge, older_than=older_than, include_failed=True))
        deleted = 0
        deadline = time.monotonic() + budget
        for step in passes:
            while time.monotonic() < deadline:
                try:
                    count = await asyncio.to_thread(step)
                except Exception as exc:
                    log_failure(logger, "applying retention failed", exc, level=logging.WARNING)
                    return deleted
                deleted += count
                if count < DEFAULT_BATCH:
                    break
        if deleted:
            logger.info("retention: deleted %d old rows", deleted)
        return deleted

    async def purge_finished(self, now: float) -> int:
        """Delete the jobs that finished more than ``KEEP_DONE_SECONDS`` before ``now``.

        Run every ``PURGE_EVERY_SECONDS`` by the housekeeping task. Done jobs
        are kept that long so a late duplicate enqueue is still recognised;
        dead letters (failed jobs) stay until requeued or purged by hand.
        """
        try:
            purged = await asyncio.to_thread(self.ctx.queue.purge, older_than=now - KEEP_DONE_SECONDS)
        except Exception as exc:
            log_failure(logger, "purging finished jobs failed", exc, level=logging.WARNING)
            return 0
        if purged:
            logger.info("purged %d finished jobs", purged)
        try:  # the per-device texts of event sends that ended (docs/events.md §4)
            await asyncio.to_thread(purge_texts, self.ctx.db,
                                    older_than=datetime.fromtimestamp(now - KEEP_DONE_SECONDS, UTC))
        except Exception as exc:
            log_failure(logger, "purging event texts failed", exc, level=logging.WARNING)
        return purged

    def _count_auth_refreshes(self) -> None:
        """Move the clients' own counters of minted auth tokens into the metric."""
        live: dict[int, int] = {}
        for (_, provider), client in self.ctx.clients.clients():
            count = auth_refreshes(client)
            if count is None:
                continue
            key = id(client)
            live[key] = count
            delta = count - self._refresh_counts.get(key, 0)
            if delta > 0:
                self.ctx.metrics.auth_refreshes.labels(provider).inc(delta)
        self._refresh_counts = live

    def stats(self) -> dict[str, Any]:
        """Busy job slots and written outcomes (for logs and tests)."""
        return {
            "workers": self.count,
            "busy": sum(w.busy for w in self.workers),
            "jobs_done": sum(w.jobs_done for w in self.workers),
            "outcomes_written": self.ctx.recorder.written,
        }


__all__ = ["WorkerPool", "jobs_per_worker", "worker_name"]
