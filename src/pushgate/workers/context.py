"""What every job of a worker process shares: the registry, the queue, the
provider clients, the outcome recorder, the pause snapshot and the metrics.

One :class:`WorkerContext` per process, however many worker loops run in
it: they share the long-lived provider clients (one per app and provider)
and merge their outcome writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import bisect_left
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pushgate.queue import ClaimedJob, Queue
from pushgate.registry import Database
from pushgate.registry.safe_errors import log_failure
from pushgate.results import Status, TokenResult
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.workers.clients import ClientCache
from pushgate.workers.completions import JobCompletions
from pushgate.workers.pausebook import PauseBook
from pushgate.workers.recorder import OutcomeRecorder
from pushgate.workers.retry_log import RetryLog
from pushgate.workers.webhooks import WebhookDispatcher
from pushgate.workers.window import WindowShares

logger = logging.getLogger("pushgate.workers")


@dataclass(slots=True)
class WorkerContext:
    settings: Settings
    db: Database
    queue: Queue
    metrics: Metrics
    clients: ClientCache
    recorder: OutcomeRecorder
    pauses: PauseBook
    notify: Callable[[], None]  # wake this process's idle worker loops (new due jobs)
    worker: str  # lease owner name of this process
    # Whether other processes' new jobs wake this one (the queue's listener is up): then the
    # workers wait for a wake-up instead of looking at the queue (workers/sender.py).
    notified: Callable[[], bool] = field(default=lambda: False)
    windows: WindowShares = field(default_factory=WindowShares)  # in-flight windows per (app, lane)
    webhooks: WebhookDispatcher | None = None  # delivery webhooks (docs/webhooks.md)
    retry_log: RetryLog = field(default_factory=RetryLog)  # retried and given-up deliveries, in the log
    completions: JobCompletions = field(init=False)  # delivery jobs marked done in batches

    def __post_init__(self) -> None:
        self.completions = JobCompletions(self.queue)

    def observer(self, provider: str) -> OutcomeMetrics:
        return OutcomeMetrics(self.metrics, provider)

    @contextlib.asynccontextmanager
    async def heartbeat(self, job: ClaimedJob) -> AsyncIterator[None]:
        """Keep the job's lease while the block runs (long sends, big fan-outs)."""
        task = asyncio.create_task(self._extend(job), name=f"heartbeat {job.id}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _extend(self, job: ClaimedJob) -> None:
        lease = self.settings.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                held = await asyncio.to_thread(self.queue.extend, [job.id], lease, worker=self.worker)
            except Exception as exc:
                log_failure(logger, f"extending the lease of job {job.id} failed", exc, level=logging.WARNING)
                continue
            if not held:
                logger.warning("job %s: lease lost (another worker may run it too)", job.id)
                return


class OutcomeMetrics:
    """:meth:`Metrics.observe` for one job, cheaper per delivery.

    The latency histogram child is looked up once, and outcome counts and
    latency observations are applied once per job (label look-ups take a
    lock each, and so does every ``Histogram.observe``; at 20,000
    deliveries/s that shows). The latencies are counted here per bucket
    (the bucket ``Histogram.observe`` would pick: the first upper bound the
    value does not exceed) and added to the child's buckets and sum in
    :meth:`commit`, so the exposition reads as if each had been observed.
    Labels are the ones ``Metrics.observe`` uses.
    """

    __slots__ = ("_bounds", "_counts", "_hits", "_latency", "_observed", "_total", "metrics", "provider")

    def __init__(self, metrics: Metrics, provider: str) -> None:
        self.metrics = metrics
        self.provider = provider
        self._latency = metrics.provider_latency.labels(provider)
        # prometheus_client keeps a child's upper bounds, bucket values and sum in these
        # attributes (pinned by tests/workers/test_workers_outcome_metrics.py against its exposition).
        self._bounds: list[float] = list(self._latency._upper_bounds)
        self._hits = [0] * len(self._bounds)
        self._total = 0.0
        self._observed = False
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, result: TokenResult) -> None:
        reason = "" if result.status is Status.SENT else (result.reason or "")
        self._counts[(result.status.value, reason)] += 1
        latency = result.latency
        if latency is not None:
            bounds = self._bounds
            index = bisect_left(bounds, latency)
            if index < len(bounds) and latency <= bounds[index]:
                self._hits[index] += 1
                self._total += latency
                self._observed = True
            else:  # NaN: whatever the library makes of it
                self._latency.observe(latency)

    def commit(self) -> None:
        for (status, reason), count in self._counts.items():
            self.metrics.deliveries.labels(self.provider, status, reason).inc(count)
        self._counts.clear()
        if self._observed:
            child, hits = self._latency, self._hits
            child._sum.inc(self._total)
            for index, count in enumerate(hits):
                if count:
                    child._buckets[index].inc(count)
                    hits[index] = 0
            self._total, self._observed = 0.0, False


__all__ = ["OutcomeMetrics", "WorkerContext"]
