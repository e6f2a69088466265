"""The worker loop: claim jobs while there is capacity, run them, hand them back on shutdown.

A :class:`Worker` runs at most ``max_jobs`` jobs at once and claims only as
many as it has free slots, so a lease is never held by a job that is merely
waiting for a slot. When the queue has nothing due it waits — woken at once
by :meth:`Worker.wake` (the API's enqueue in ``pushgate serve``, a fan-out
or retry in this process, and on PostgreSQL any process's enqueue, through
the queue's notifications), otherwise after a backoff growing from 10 ms to
0.5 s — instead of polling in a tight loop.

Jobs are of five kinds: ``fanout`` (a send turned into delivery jobs, run in
a thread by :func:`~pushgate.planner.fanout.fan_out`),
``deliver:<provider>`` (:class:`~pushgate.workers.delivery.DeliveryJob`),
``topics`` (FCM topic subscriptions, :mod:`pushgate.workers.topic_ops`),
``events`` (event batches, :mod:`pushgate.workers.events`) and ``webhooks``
(delivery events to an app's endpoints, :mod:`pushgate.workers.webhooks`).

Claims come in tiers: first the fan-out queue, ``topics``, ``events`` and
the direct lanes (``deliver:<provider>:direct``, sends to named tokens,
devices or users), then ``webhooks``, then, with the slots left, the
broadcast lanes. A send to everyone still uses every free slot, but a
user's login code or chat message queued behind it is claimed first. On
top of ``max_jobs`` a worker keeps ``RESERVED_JOBS`` slots that only the
first tier may take, so that login code does not wait for a running
broadcast job to end either (bench scenario 9), and ``DIRECT_JOBS`` more
that only direct-lane deliveries may take, so a stream of them does not
either once two are running. A small direct-lane job's send and devices
are read by the thread that claimed it, before the claim returns.
A job that fails for an internal reason (the database went away) runs again
after a delay; the queue dead-letters it after ``max_tries``.

Stopping (:meth:`Worker.stop`) stops claiming, lets running jobs finish for
up to ``drain`` seconds, and then cancels the rest: their written outcomes
stay written and their leases are handed back, so another worker — or this
one after a restart — carries on with what was not recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from pushgate.planner.fanout import fan_out
from pushgate.planner.jobs import (
    EVENTS_QUEUE,
    FANOUT_QUEUE,
    TOPICS_QUEUE,
    WEBHOOKS_QUEUE,
    DeliveryPayload,
    FanoutPayload,
    is_delivery_queue,
)
from pushgate.queue import ClaimedJob
from pushgate.registry import DeliveryStatus, Outcome
from pushgate.registry.safe_errors import log_failure, safe_reason
from pushgate.workers.constants import (
    CLAIM_ERROR_MAX,
    CLAIM_ERROR_MIN,
    DIRECT_JOBS,
    DRAIN_SECONDS,
    IDLE_LOOK,
    IDLE_MAX,
    IDLE_MIN,
    JOB_ERROR_RETRY_SECONDS,
    PRELOAD_DEVICES,
    REASON_INTERNAL,
    RESERVED_JOBS,
    RESERVED_LOOK,
)
from pushgate.workers.context import WorkerContext
from pushgate.workers.delivery import DeliveryJob, Loaded, load_job
from pushgate.workers.events import run_event_batch
from pushgate.workers.tiers import (
    ALL_QUEUES,
    claim_by_tier,
    claim_tiers,
    is_direct_lane,
    may_take_reserved_slot,
)
from pushgate.workers.topic_ops import run_topic_operation

logger = logging.getLogger("pushgate.workers")

def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Worker:
    """One claim loop with ``max_jobs`` job slots; see the module docstring."""

    def __init__(
        self,
        ctx: WorkerContext,
        *,
        max_jobs: int,
        reserved_slots: int = RESERVED_JOBS,
        direct_slots: int = DIRECT_JOBS,
        queues: tuple[str, ...] = ALL_QUEUES,
        name: str = "worker",
    ) -> None:
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        self.ctx = ctx
        self.max_jobs = max_jobs
        self.reserved_slots = max(0, reserved_slots)
        self.direct_slots = max(0, direct_slots)
        self.queues = queues
        self._claim_tiers = claim_tiers(queues)
        self._reserved_queues = tuple(q for q in queues if may_take_reserved_slot(q))
        self._direct_lanes = tuple(q for q in self._reserved_queues if is_direct_lane(q))
        self.name = name
        self.jobs_done = 0
        self._running: set[asyncio.Task[None]] = set()
        self._in_reserved: set[asyncio.Task[None]] = set()  # running jobs in reserved slots
        self._in_direct: set[asyncio.Task[None]] = set()  # running jobs in direct-lane slots
        # Claims run on a thread of their own: in the event loop's default executor (six
        # threads on two cores) they queued behind the reads of a broadcast's starting jobs
        # and its fan-out, and a login code waited for them (bench scenario 9).
        self._claimer = ThreadPoolExecutor(1, thread_name_prefix=f"pushgate-{name}-claims")
        self._wake = asyncio.Event()
        self._napping: asyncio.Future[None] | None = None  # _nap's wait, ended early by wake()
        self._awaiting: tuple[str, ...] | None = None  # what _await_wake waits for (wake(queue) checks)
        self._slot_freed = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> int:
        return len(self._running)

    def wake(self, queue: str | None = None) -> None:
        """New work may be due (in ``queue``, when named): claim now instead of at the end of the
        idle wait. A wait for what some slots may take ignores the other queues' jobs: a busy
        worker is not made to claim for each broadcast job another process enqueues."""
        awaiting = self._awaiting
        if queue is not None and awaiting is not None and queue not in awaiting:
            return
        self._wake.set()
        napping = self._napping
        if napping is not None and not napping.done():
            napping.set_result(None)

    def start(self) -> None:
        if self._loop_task is None:
            # A fresh one: stop() shut the last one down, and a pool may start its workers again.
            self._claimer = ThreadPoolExecutor(1, thread_name_prefix=f"pushgate-{self.name}-claims")
            self._loop_task = asyncio.create_task(self._claim_loop(), name=f"pushgate-{self.name}")

    async def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop claiming, finish running jobs (at most ``drain`` seconds), cancel the rest."""
        self._stopping = True
        self.wake()
        self._slot_freed.set()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=drain)
            for task in late:
                task.cancel()
            if late:
                logger.warning("%s: %d jobs did not finish in %.0fs; handing them back", self.name,
                               len(late), drain)
                await asyncio.wait(late)
        self._claimer.shutdown(wait=False)

    async def _claim_loop(self) -> None:
        idle = IDLE_MIN
        failing = CLAIM_ERROR_MIN
        while not self._stopping:
            spare = self.reserved_slots - len(self._in_reserved)
            direct = self.direct_slots - len(self._in_direct)
            free = self.max_jobs - (len(self._running) - len(self._in_reserved) - len(self._in_direct))
            if free <= 0 and spare <= 0 and direct <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self._wake.clear()
            try:
                jobs = await asyncio.get_running_loop().run_in_executor(
                    self._claimer, self._claim, max(0, free), max(0, spare), max(0, direct))
            except Exception as exc:
                # The database is away (restarting, not migrated yet): back off, log once per wait.
                log_failure(logger, f"{self.name}: claiming jobs failed; retrying in {failing:.0f} s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), failing)  # stop() cuts it short
                failing = min(CLAIM_ERROR_MAX, failing * 2)
                continue
            failing = CLAIM_ERROR_MIN
            if self._stopping:
                await self._hand_back([job for job, _ in jobs], "worker stopping")
                break
            if not jobs:
                # A local enqueue or a job ending (a slot freed) wakes the loop, and so does
                # another process's where the queue tells (PostgreSQL's notifications); without
                # those, work another process enqueued is looked for with reads of the queue
                # where they are cheap.
                wanted = (self.queues if free > 0
                          else self._reserved_queues if spare > 0 else self._direct_lanes)
                if self.ctx.notified():
                    # Left to find: what time makes due (scheduled jobs, backoffs, expired leases).
                    await self._await_wake(wanted)
                    continue
                looks = self.ctx.queue.due_check != "claim"
                if free <= 0 and looks:
                    # Only the reserved slots looked: no claims while the other slots are busy.
                    await self._await_due(wanted, RESERVED_LOOK, RESERVED_LOOK)
                    continue
                if looks:
                    await self._await_due(wanted, idle, IDLE_LOOK)
                    idle = min(IDLE_LOOK, idle * 2)
                    continue
                if free <= 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), IDLE_MAX)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), idle)
                idle = min(IDLE_MAX, idle * 2)
                continue
            idle = IDLE_MIN
            for job, loaded in jobs:
                if job.reclaimed_from is not None:
                    # Its holder died or stalled: what it had in flight is sent again.
                    logger.warning("job %s: lease of %s expired; reclaimed (attempt %d of %d)",
                                   job.id, job.reclaimed_from, job.attempt, job.max_tries)
                task = asyncio.create_task(self._run(job, loaded), name=f"job {job.id}")
                self._running.add(task)
                if direct > 0 and is_direct_lane(job.queue):
                    direct -= 1
                    self._in_direct.add(task)
                elif spare > 0 and may_take_reserved_slot(job.queue):
                    spare -= 1
                    self._in_reserved.add(task)
                task.add_done_callback(self._job_done)

    async def _await_due(self, queues: tuple[str, ...], every: float, longest: float) -> None:
        """Return when woken, when one of ``queues`` (those the free slots may take) has a due
        job, looked for after ``every`` seconds, doubling up to ``longest``, or after IDLE_MAX
        (a full claim then also dead-letters the leases that ran out on their last try).

        A login code sent through another process (an API-only ``pushgate serve``) wakes
        nobody here, unless the queue's notifications are up (then :meth:`_await_wake` waits
        instead). While a broadcast fills every ordinary slot, a job ending would, every
        few tens of milliseconds; an idle worker's backoff, after up to half a second. A read
        of the queue's claim index (``Queue.has_due``: no write lock, no lease) every
        RESERVED_LOOK or IDLE_LOOK takes it sooner: bench scenario 9w.
        """
        deadline = time.monotonic() + IDLE_MAX
        every = min(every, longest)
        while not self._stopping and time.monotonic() < deadline:
            if await self._nap(every):
                return
            every = min(longest, every * 2)
            try:
                if self.ctx.queue.due_check == "inline":
                    due = self.ctx.queue.has_due(queues)
                else:
                    due = await asyncio.get_running_loop().run_in_executor(
                        self._claimer, self.ctx.queue.has_due, queues)
            except Exception:
                return  # the claim that follows meets the same fault and reports it
            if due:
                return

    async def _await_wake(self, queues: tuple[str, ...]) -> None:
        """Return when woken for one of ``queues`` (those the free slots may take; a wake-up that
        names another queue is ignored), or after IDLE_MAX, for the claim that finds what time
        made due. Another process's new jobs wake this one here (:meth:`Queue.listen`)."""
        self._awaiting = queues
        try:
            await self._nap(IDLE_MAX)
        finally:
            self._awaiting = None

    async def _nap(self, seconds: float) -> bool:
        """Wait ``seconds`` or until :meth:`wake`; whether woken. A looking worker naps 10 to
        100 times a second: a future and a timer cost a third of ``wait_for``'s task and
        cancellation (on a two-core VM a timed wake-up of the loop alone costs ~0.1 ms)."""
        if self._wake.is_set():
            return True
        loop = asyncio.get_running_loop()
        napping = self._napping = loop.create_future()
        timer = loop.call_later(seconds, _settle, napping)
        try:
            await napping
        finally:
            timer.cancel()
            self._napping = None
        return self._wake.is_set()

    def _claim(self, free: int, spare: int, direct: int = 0) -> list[tuple[ClaimedJob, Loaded | None]]:
        jobs = claim_by_tier(self.ctx.queue, self._claim_tiers, limit=free, reserved=spare, direct=direct,
                             lease_seconds=self.ctx.settings.lease_seconds, worker=self.ctx.worker)
        return [(job, self._preload(job)) for job in jobs]

    def _preload(self, job: ClaimedJob) -> Loaded | None:
        """A small direct-lane job's send and devices, read in the claiming thread (one thread
        hand-off less before a login code's request; on a busy process each costs milliseconds)."""
        if not is_direct_lane(job.queue) or job.size > PRELOAD_DEVICES:
            return None
        try:
            return load_job(self.ctx.db, DeliveryPayload.from_json(job.payload))
        except Exception:
            return None  # the job reads again when it runs, and fails there as it would have

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._in_reserved.discard(task)
        self._in_direct.discard(task)
        self._slot_freed.set()
        self.wake()  # an idle wait for work only the freed slot may take ends now

    async def _run(self, job: ClaimedJob, loaded: Loaded | None = None) -> None:
        try:
            if job.queue == FANOUT_QUEUE:
                await self._fan_out(job)
            elif is_delivery_queue(job.queue):
                await DeliveryJob(self.ctx, job, loaded).run()
            elif job.queue == TOPICS_QUEUE:
                await run_topic_operation(self.ctx, job)
            elif job.queue == EVENTS_QUEUE:
                await run_event_batch(self.ctx, job)
            elif job.queue == WEBHOOKS_QUEUE and self.ctx.webhooks is not None:
                await self.ctx.webhooks.run(self.ctx, job)
            else:
                await asyncio.to_thread(self.ctx.queue.fail, job.id, f"no handler for queue {job.queue}")
            self.jobs_done += 1
        except asyncio.CancelledError:
            await asyncio.shield(self._hand_back([job], "worker stopped"))
            raise
        except Exception as exc:
            log_failure(logger, f"{self.name}: job {job.id} failed", exc)
            await self._failed(job, exc)

    async def _fan_out(self, job: ClaimedJob) -> None:
        ctx = self.ctx
        loop = asyncio.get_running_loop()

        def enqueued(_count: int) -> None:  # in fan-out's thread: start on the first jobs now
            with contextlib.suppress(RuntimeError):  # the loop closed while the thread ran on
                loop.call_soon_threadsafe(ctx.notify)

        send_id = FanoutPayload.from_json(job.payload).send_id
        async with ctx.heartbeat(job):
            result = await asyncio.to_thread(
                fan_out, ctx.db, ctx.queue, send_id,
                chunk_size=ctx.settings.chunk_size, max_tries=ctx.settings.max_tries, on_enqueued=enqueued,
            )
        await asyncio.to_thread(ctx.queue.complete, [job.id])
        logger.info("send %s: %d devices in %d delivery jobs", send_id, result.targeted, result.jobs)

    async def _hand_back(self, jobs: list[ClaimedJob], reason: str) -> None:
        """Return leases at once rather than letting them expire (outcomes flushed first)."""
        if not jobs:
            return
        with contextlib.suppress(Exception):
            await self.ctx.recorder.flush()
        for job in jobs:
            try:
                await asyncio.to_thread(self.ctx.queue.retry, job.id, reason=reason, run_at=None)
            except Exception as exc:
                log_failure(logger, f"handing back job {job.id} failed; its lease will expire", exc,
                            level=logging.WARNING)

    async def _failed(self, job: ClaimedJob, exc: Exception) -> None:
        """Run the job again later; on its last try, settle its devices as failed."""
        reason = safe_reason(exc)
        ctx = self.ctx
        try:
            with contextlib.suppress(Exception):
                await ctx.recorder.flush()
            if job.last_try and is_delivery_queue(job.queue):
                payload = DeliveryPayload.from_json(job.payload)
                for device_id in payload.device_ids:
                    ctx.recorder.add(payload.send_id, payload.provider,
                                     Outcome(device_id, DeliveryStatus.FAILED, REASON_INTERNAL))
                await ctx.recorder.flush()
                await asyncio.to_thread(ctx.queue.fail, job.id, reason)
                return
            await asyncio.to_thread(
                ctx.queue.retry, job.id, reason=reason, run_at=time.time() + JOB_ERROR_RETRY_SECONDS
            )
        except Exception as exc:
            log_failure(logger, f"{self.name}: could not reschedule job {job.id}; its lease will expire", exc)


__all__ = ["ALL_QUEUES", "Worker", "claim_by_tier", "claim_tiers", "is_direct_lane"]
