"""Wake-ups across processes for the SQL queue on PostgreSQL: ``NOTIFY`` when jobs become due,
one ``LISTEN`` connection per worker process.

Without them a worker finds a job another process enqueued (an API-only
``pushgate serve``, a fan-out in another worker) only by looking at the claim
index every 10 to 100 ms (``workers/sender.py``). With them:

- **Sending.** The transaction that makes jobs due now — an enqueue, a retry
  due at once (a job handed back), a reschedule or a requeue to now — also
  runs ``SELECT pg_notify('pushgate_jobs', <queue>)`` once per queue it
  touched (:func:`notify`). PostgreSQL delivers it when that transaction
  commits and never if it rolls back, and folds identical notifications of
  one transaction into one
  (https://www.postgresql.org/docs/current/sql-notify.html). A listener that
  receives it sees the commit: a claim started then finds the jobs.
  Jobs due later (scheduled sends, backoffs) send nothing: time makes them due,
  and the workers' periodic claim finds them.
- **Listening.** :class:`JobListener` holds one connection per process, in
  autocommit mode, that ran ``LISTEN pushgate_jobs`` and then waits on
  ``notifies()``; each notification calls ``on_due`` with the queue's name.
  It is an asyncio connection in the workers' own event loop rather than a
  blocking ``notifies()`` in a thread: the loop already waits on sockets (one
  more reader costs nothing while idle), the worker's wake-up is an
  ``asyncio`` event that only the loop's thread may set (a thread would hand
  every notification over with ``call_soon_threadsafe``), and stopping is a
  task cancellation instead of a thread blocked in a read until its timeout.
- **Losing it.** When the connection drops (PostgreSQL restarting, the
  backend terminated, a network fault TCP keepalives detect), ``listening``
  turns false and ``on_due(None)`` wakes every worker, which go back to
  looking at the claim index; the listener reconnects after 1 s, doubling
  up to 30 s. Once it listens again, ``on_due(None)`` once more: whatever was
  enqueued while nobody listened is claimed then. Notifications missed in
  between cost latency, never a job: the workers still claim every 0.5 s.

What it costs on the sending side: PostgreSQL keeps the notifications of a
transaction in commit order by taking one cluster-wide lock from just before
its commit until the commit's WAL record is flushed (``PreCommit_Notify`` in
``src/backend/commands/async.c``), so transactions that notify commit one
after another instead of sharing a flush: docs/scale-out.md §2, "Wake-ups
across processes", has what that bounds and what was measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from pushgate.registry import Database
from pushgate.registry.safe_errors import safe_reason

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("pushgate.queue")

CHANNEL = "pushgate_jobs"  # PostgreSQL channels are per database; the prefix keeps ours apart
# Shown in pg_stat_activity, so an operator tells the listener from the pool's connections.
APPLICATION_NAME = "pushgate-jobs-listener"
RETRY_MIN = 1.0  # seconds before reconnecting after a drop, doubling while it fails
RETRY_MAX = 30.0
CONNECT_TIMEOUT = 10  # seconds, so that a reconnect attempt against an unreachable host ends
# A listener only reads: a silently dead connection (a host gone, a network partition) would
# never raise. Keepalives probe an idle connection after 10 s, every 5 s, and give up after
# 3 unanswered probes.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}

_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', queue) FROM unnest(CAST(:queues AS text[])) AS queue")


def notify(connection: Connection, queues: Collection[str]) -> None:
    """Have ``connection``'s transaction notify the listeners of each of ``queues`` at its commit."""
    if queues:
        connection.execute(_NOTIFY, {"queues": sorted(queues)})


class JobListener:
    """The ``LISTEN`` connection of one process; see the module docstring.

    ``on_due(queue)`` runs on the event loop's thread: with a queue's name for
    a notification, with None when listening starts or stops (every worker
    should claim then).
    """

    def __init__(self, db: Database, on_due: Callable[[str | None], None]) -> None:
        _, options = db.engine.dialect.create_connect_args(db.engine.url)
        options.pop("context", None)  # SQLAlchemy's adapters: not needed to LISTEN
        self._options: dict[str, Any] = {
            **options, **KEEPALIVES, "connect_timeout": CONNECT_TIMEOUT,
            "application_name": APPLICATION_NAME, "autocommit": True,
        }
        self._on_due = on_due
        self._task: asyncio.Task[None] | None = None
        self.listening = False

    def start(self) -> None:
        """Start listening in the running event loop (connecting happens in the background)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pushgate-jobs-listener")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.listening = False

    async def _run(self) -> None:
        delay = RETRY_MIN
        told = False  # the loss was logged: quiet until notifications are back
        while True:
            reason = "the server closed the connection"
            try:
                await self._listen()
            except Exception as exc:
                reason = safe_reason(exc)
            if self.listening:  # it was up: a drop, not a failed reconnect
                self.listening = False
                delay, told = RETRY_MIN, False
                self._on_due(None)  # the workers go back to looking, from a fresh claim
            logger.log(logging.DEBUG if told else logging.WARNING,
                       "job notifications are off (%s): workers look for jobs in the queue "
                       "meanwhile; reconnecting in %.0f s", reason, delay)
            told = True
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    async def _listen(self) -> None:
        import psycopg

        connection: psycopg.AsyncConnection[Any] = await psycopg.AsyncConnection.connect(**self._options)
        try:
            await connection.execute(f"LISTEN {CHANNEL}")
            self.listening = True
            logger.info("listening for job notifications (%s)", CHANNEL)
            # Jobs enqueued before LISTEN took effect notified nobody: claim once now.
            self._on_due(None)
            async for notification in connection.notifies():
                self._on_due(notification.payload or None)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()


__all__ = ["APPLICATION_NAME", "CHANNEL", "JobListener", "notify"]
