"""Wake-ups across processes for the SQL queue on PostgreSQL: ``NOTIFY`` when jobs become due,
one ``LISTEN`` connection per worker process.

Without them a worker finds a job another process enqueued (an API-only
``pushgate serve``, a fan-out in another worker) only by looking at the claim
index every 10 to 100 ms (``workers/sender.py``). With them:

- **Sending.** After a transaction that made jobs due now commits — an
  enqueue, a retry due at once (a job handed back), a reschedule or a requeue
  to now — the queue hands each queue it touched to the process's
  :class:`JobNotifier` (:func:`notifier`), which never blocks the caller. Its
  thread sends every name collected so far in one autocommit statement,
  ``SELECT pg_notify('pushgate_jobs', queue) FROM unnest(…)``, on a connection
  of its own (``pushgate-jobs-notifier``), then waits for more: names that
  arrive while a send is in flight go out with the next one. Sent after the
  commit, a notification always finds the jobs committed; a rollback sends
  nothing. Jobs due later (scheduled sends, backoffs) send nothing: time makes
  them due, and the workers' periodic claim finds them.
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

Why not ``NOTIFY`` inside the transaction that enqueues: PostgreSQL keeps
notifications in commit order by taking one cluster-wide lock from just
before a notifying transaction's commit until its commit record is flushed
(``PreCommit_Notify`` in ``src/backend/commands/async.c``), so notifying
transactions commit one after another instead of sharing a WAL flush. Every
accepted send would queue on that lock. The notifier keeps the API's commits
out of it: one connection per process takes it, once per batch of names, and
with ``synchronous_commit = off`` (a notification is a wake-up hint, not
data) it does not hold it while a flush waits. docs/scale-out.md §2 has the
measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pushgate.registry import Database
from pushgate.registry.safe_errors import safe_reason

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("pushgate.queue")

CHANNEL = "pushgate_jobs"  # PostgreSQL channels are per database; the prefix keeps ours apart
# Shown in pg_stat_activity, so an operator tells the listener from the pool's connections.
APPLICATION_NAME = "pushgate-jobs-listener"
NOTIFIER_APPLICATION_NAME = "pushgate-jobs-notifier"
RETRY_MIN = 1.0  # seconds before reconnecting after a drop, doubling while it fails
RETRY_MAX = 30.0
CONNECT_TIMEOUT = 10  # seconds, so that a reconnect attempt against an unreachable host ends
# A listener only reads: a silently dead connection (a host gone, a network partition) would
# never raise. Keepalives probe an idle connection after 10 s, every 5 s, and give up after
# 3 unanswered probes.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}

# One statement, so one autocommit transaction, however many queues it names.
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', queue) FROM unnest(%s::text[]) AS queue"


def _connect_options(db: Database, application_name: str) -> dict[str, Any]:
    """psycopg's connection options for ``db``, with keepalives and a name for pg_stat_activity."""
    _, options = db.engine.dialect.create_connect_args(db.engine.url)
    options.pop("context", None)  # SQLAlchemy's adapters: not needed to LISTEN or NOTIFY
    return {**options, **KEEPALIVES, "connect_timeout": CONNECT_TIMEOUT,
            "application_name": application_name, "autocommit": True}


class JobNotifier:
    """Sends the notifications of one process, after the commits that made jobs due; see the
    module docstring. :meth:`notify` is thread-safe, never blocks on the database, never raises.

    While the connection fails, names are dropped (logged once at warning): the workers'
    periodic claim finds those jobs. The next name after a backoff of 1 s, doubling up to
    30 s, connects again.
    """

    def __init__(self, db: Database) -> None:
        self._key = _key(db)
        self._options = _connect_options(db, NOTIFIER_APPLICATION_NAME)
        self._changed = threading.Condition(threading.Lock())
        self._pending: dict[str, None] = {}  # a set that keeps the order names came in
        self._thread: threading.Thread | None = None
        self._closed = False
        self._connection: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0  # monotonic time before which names are dropped (a failed connection)
        self._delay = RETRY_MIN
        self._told = False  # the failure was logged: quiet until a send succeeds
        self.sends = 0  # statements sent so far (tests, logs)

    def notify(self, queue: str) -> None:
        """Have the listeners of ``queue`` woken soon; call it after the commit."""
        try:
            with self._changed:
                if self._closed:
                    return
                self._pending[queue] = None
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="pushgate-jobs-notifier",
                                                    daemon=True)
                    self._thread.start()
                self._changed.notify()
        except Exception:  # a hint: never worth failing the caller's request
            logger.debug("job notification of %r not sent", queue, exc_info=True)

    def close(self) -> None:
        """Stop the thread (what is pending is sent first) and close the connection; the next
        :func:`notifier` for this database makes a new one."""
        with _notifiers_lock:
            if _notifiers.get(self._key) is self:
                del _notifiers[self._key]
        with self._changed:
            self._closed = True
            thread = self._thread
            self._changed.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                if not self._pending:  # closed, nothing left
                    break
                queues, self._pending = list(self._pending), {}
            if time.monotonic() >= self._retry_at:
                self._send(queues)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def _send(self, queues: list[str]) -> None:
        import psycopg

        reused = self._connection is not None
        while True:
            try:
                if self._connection is None:
                    self._connection = psycopg.connect(**self._options)
                    # A notification is a wake-up hint: its commit need not wait for a WAL flush,
                    # and PostgreSQL's notify lock is held until the commit record is written.
                    self._connection.execute("SET synchronous_commit = off")
                self._connection.execute(_NOTIFY, (queues,))
                break
            except Exception as exc:
                if self._connection is not None:
                    with contextlib.suppress(Exception):
                        self._connection.close()
                    self._connection = None
                if reused:  # it may have died while idle (a restart): one fresh connection at once
                    reused = False
                    continue
                logger.log(logging.DEBUG if self._told else logging.WARNING,
                           "job notifications not sent (%s): workers in other processes find these "
                           "jobs at their next claim; trying again in %.0f s", safe_reason(exc),
                           self._delay)
                self._told = True
                self._retry_at = time.monotonic() + self._delay
                self._delay = min(RETRY_MAX, self._delay * 2)
                return
        self.sends += 1
        self._delay, self._told = RETRY_MIN, False


_notifiers: dict[str, JobNotifier] = {}
_notifiers_lock = threading.Lock()


def notifier(db: Database) -> JobNotifier:
    """The process's notifier for ``db``'s database: one thread and connection per process,
    whatever the number of queues and Database objects on it."""
    key = _key(db)
    with _notifiers_lock:
        found = _notifiers.get(key)
        if found is None:
            found = _notifiers[key] = JobNotifier(db)
        return found


def _key(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def _forget_notifiers() -> None:
    """In a forked child: the parent's threads do not exist there; start afresh."""
    global _notifiers_lock
    _notifiers.clear()
    _notifiers_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_notifiers)


class JobListener:
    """The ``LISTEN`` connection of one process; see the module docstring.

    ``on_due(queue)`` runs on the event loop's thread: with a queue's name for
    a notification, with None when listening starts or stops (every worker
    should claim then).
    """

    def __init__(self, db: Database, on_due: Callable[[str | None], None]) -> None:
        self._options = _connect_options(db, APPLICATION_NAME)
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


__all__ = [
    "APPLICATION_NAME", "CHANNEL", "NOTIFIER_APPLICATION_NAME", "JobListener", "JobNotifier", "notifier",
]
