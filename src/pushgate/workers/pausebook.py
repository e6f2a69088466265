"""What a worker process knows about paused (app, provider) pairs.

The pauses themselves are stored with the credentials (see
:mod:`pushgate.registry.pauses`); every worker keeps a snapshot, refreshed
every couple of seconds, so deciding "is this job's app paused?" costs no
database round trip per job. A pause this process records is in its
snapshot at once (:meth:`PauseBook.note`), so its other running jobs stop
sending within one request.

When a pause disappears before its end — the app stored new credentials,
which replaces the pause — the jobs deferred until the pause's end are woken
(:func:`wake_deferred`) so fixed credentials take effect in seconds, not at
the end of an hour-long pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from pushgate.planner.jobs import DEFERRED_MARK, deliver_queue
from pushgate.queue import Queue
from pushgate.registry import Database
from pushgate.registry.pauses import ProviderPause, all_pauses
from pushgate.registry.safe_errors import log_failure
from pushgate.service.metrics import Metrics
from pushgate.workers.constants import PAUSE_POLL_SECONDS

logger = logging.getLogger("pushgate.workers")


class PauseBook:
    """A per-process snapshot of the recorded pauses."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        *,
        metrics: Metrics | None = None,
        poll: float = PAUSE_POLL_SECONDS,
        clock: Callable[[], float] = time.time,
        on_wake: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.queue = queue
        self.metrics = metrics
        self.poll = poll
        self.clock = clock
        self.on_wake = on_wake
        self._pauses: dict[tuple[int, str], ProviderPause] = {}
        self.generation = 0  # bumped whenever the snapshot changes (cheap "anything new?" check)
        self._task: asyncio.Task[None] | None = None

    def active(self, app_id: int, provider: str) -> ProviderPause | None:
        """The running pause of (app, provider), if any."""
        pause = self._pauses.get((app_id, provider))
        return pause if pause is not None and pause.active(self.clock()) else None

    def note(self, pause: ProviderPause) -> None:
        """Record a pause at once (this process just stored or provisionally decided it)."""
        self._pauses[(pause.app_id, pause.provider)] = pause
        self.generation += 1
        self._update_gauge()

    def forget(self, app_id: int, provider: str) -> None:
        if self._pauses.pop((app_id, provider), None) is not None:
            self.generation += 1
        self._update_gauge()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pushgate-pause-book")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> None:
        """Re-read the pauses; wake the deferred jobs of pauses lifted early."""
        before = dict(self._pauses)
        stored = await asyncio.to_thread(_read_pauses, self.db)
        now = self.clock()
        current = {(p.app_id, p.provider): p for p in stored}
        # A pause noted while the read ran is newer than what the read saw (a job notes
        # one the moment a provider rejects the credentials, before it is stored):
        # keep it, or this process would go on sending with rejected credentials.
        for key, pause in self._pauses.items():
            if before.get(key) is not pause and key not in current:
                current[key] = pause
        lifted = {
            key[1] for key, pause in self._pauses.items()
            if pause.active(now) and (key not in current or not current[key].active(now))
        }
        if current != self._pauses:
            self.generation += 1
        self._pauses = current
        self._update_gauge()
        for provider in sorted(lifted):
            woken = await asyncio.to_thread(wake_deferred, self.queue, provider, now)
            logger.info("%s pause lifted; %d deferred jobs woken", provider, woken)
            if woken and self.on_wake is not None:
                self.on_wake()

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:
                log_failure(logger, "reading the paused providers failed", exc, level=logging.WARNING)
            await asyncio.sleep(self.poll)

    def _update_gauge(self) -> None:
        if self.metrics is not None:
            now = self.clock()
            self.metrics.paused_apps.set(sum(1 for p in self._pauses.values() if p.active(now)))


def _read_pauses(db: Database) -> list[ProviderPause]:
    with db.session(write=False) as session:
        return all_pauses(session)


def wake_deferred(queue: Queue, provider: str, now: float) -> int:
    """Make jobs deferred by a pause of ``provider`` due now; returns how many.

    Jobs of other apps' pauses of the same provider may wake too: they are
    claimed, found still paused, and deferred again (one cheap round trip).
    """
    return sum(queue.reschedule(deliver_queue(provider, direct=direct), run_at=now, id_suffix=DEFERRED_MARK)
               for direct in (True, False))


__all__ = ["PauseBook", "wake_deferred"]
