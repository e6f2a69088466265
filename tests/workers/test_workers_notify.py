"""On PostgreSQL a job another process enqueues wakes an idle worker through the queue's
notifications (``LISTEN``/``NOTIFY``, :mod:`pushgate.queue.sql_notify`), and the listener
comes back after its connection is terminated.

Every timer a worker waits on is set to a minute or more here, so a send is delivered
within the test's time only if a notification woke the worker; "another process" is a
second :class:`Database` (its own engine and connections), whose commits reach this one
through PostgreSQL alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pushgate.notification import Notification
from pushgate.planner import deliver_queue
from pushgate.queue import ClaimedJob, ClaimTier, SqlQueue
from pushgate.queue.sql_notify import APPLICATION_NAME
from pushgate.registry import Database
from pushgate.service import submit_send
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers import sender
from pushgate.workers.pool import WorkerPool
from tests.workers.worker_helpers import eventually, make_app, settings_for, status

on_postgresql = pytest.mark.parametrize("database", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                                        indirect=True)


@pytest.fixture(autouse=True)
def _no_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """No look at the queue and no periodic claim within a test's time: only a wake-up helps."""
    for name in ("IDLE_MIN", "IDLE_LOOK", "RESERVED_LOOK"):
        monkeypatch.setattr(sender, name, 60.0)
    monkeypatch.setattr(sender, "IDLE_MAX", 120.0)


@pytest.fixture
def elsewhere(database: Database) -> Iterator[Database]:
    """The registry as another process holds it: an engine and connections of its own."""
    other = Database(database.url)
    yield other
    other.dispose()


class WatchedQueue(SqlQueue):
    """The pool's queue, telling when a claim came back empty while its pool was listening:
    the worker then waits for a wake-up, and nothing but a notification brings one."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.pool: WorkerPool | None = None
        self.idle_listening = threading.Event()

    def claim_tiers(self, tiers: Sequence[ClaimTier], **options: Any) -> list[ClaimedJob]:
        jobs = super().claim_tiers(tiers, **options)
        if not jobs and self.pool is not None and self.pool.listening:
            self.idle_listening.set()
        return jobs


def watched_pool(settings: Settings, database: Database) -> tuple[WorkerPool, WatchedQueue]:
    queue = WatchedQueue(database)
    pool = queue.pool = WorkerPool(settings, database, queue, Metrics(), count=1)
    return pool, queue


def send_elsewhere(db: Database, settings: Settings, app_id: int, token: str, title: str) -> str:
    """A login code accepted by another process (an API-only ``pushgate serve``)."""
    accepted = submit_send(db, SqlQueue(db), settings, app_id, Notification(title=title), {"tokens": [token]})
    send_id: str = accepted.response["id"]
    return send_id


async def deliver_elsewhere(elsewhere: Database, database: Database, settings: Settings, app_id: int,
                            token: str, title: str) -> None:
    """A login code accepted by another process, then delivered by the worker under test."""
    send_id = send_elsewhere(elsewhere, settings, app_id, token, title)
    await eventually(lambda: status(database, send_id).sent == 1, what=f"{title!r} delivered")


@contextlib.asynccontextmanager
async def idle_listening_pool(settings: Settings, database: Database) -> AsyncIterator[WatchedQueue]:
    """A started pool of one worker, once that worker is idle with the listener up; stopped after."""
    pool, queue = watched_pool(settings, database)
    await pool.start()
    try:
        await eventually(queue.idle_listening.is_set, what="the worker idle, listening")
        yield queue
    finally:
        await pool.stop()


def listener_pids(db: Database) -> list[int]:
    with db.connect(write=False) as connection:
        return list(connection.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = :name"
        ), {"name": APPLICATION_NAME}).scalars())


@on_postgresql
async def test_an_idle_worker_is_woken_by_a_send_another_process_accepted(
    database: Database, elsewhere: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, devices = make_app(database, apns, 1)
    settings = settings_for(database, apns, ca_file)
    async with idle_listening_pool(settings, database):
        await deliver_elsewhere(elsewhere, database, settings, app_id, devices[0][1], "Your code")
        assert listener_pids(database) != []  # one connection listens for the process
    assert listener_pids(database) == []  # and it is closed with the pool


@on_postgresql
async def test_the_listener_reconnects_after_its_connection_is_terminated(
    database: Database, elsewhere: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    """The listener's backend is terminated (as a PostgreSQL restart or an operator would):
    it connects again, listens again, and a send another process accepts wakes the worker."""
    app_id, devices = make_app(database, apns, 2)
    settings = settings_for(database, apns, ca_file)
    async with idle_listening_pool(settings, database) as queue:
        await deliver_elsewhere(elsewhere, database, settings, app_id, devices[0][1], "Your code")
        [lost] = listener_pids(database)
        queue.idle_listening.clear()
        with elsewhere.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": lost}).scalar()
        # Listening again on another connection, and the worker idle since (its claim on
        # reconnecting picked up whatever was enqueued while nobody listened).
        def back() -> bool:
            return queue.idle_listening.is_set() and listener_pids(database) not in ([], [lost])

        await eventually(back, what="the listener back and the worker idle")
        await deliver_elsewhere(elsewhere, database, settings, app_id, devices[1][1], "Your other code")


async def test_a_wait_for_the_reserved_slots_ignores_other_queues_jobs(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    """A worker whose ordinary slots a broadcast fills waits for work its reserved slots may
    take: a notification for a broadcast lane (another process's fan-out) does not make it
    claim; one for a direct lane does."""
    pool = WorkerPool(settings_for(database, apns, ca_file), database, SqlQueue(database), Metrics(), count=1)
    worker = pool.workers[0]
    waiting = asyncio.create_task(worker._await_wake(worker._reserved_queues))
    for _ in range(3):
        await asyncio.sleep(0)  # a few turns of the loop: the wait starts
    worker.wake(deliver_queue("apns"))
    for _ in range(3):
        await asyncio.sleep(0)  # ... and a wake-up it heeded would have ended it by now
    assert not waiting.done()
    worker.wake(deliver_queue("apns", direct=True))
    await asyncio.wait_for(waiting, 30)
