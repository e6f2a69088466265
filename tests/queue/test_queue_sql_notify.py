"""The SQL queue's notifications on PostgreSQL: which changes wake the workers of other processes,
and that they are sent after the commit, by the process's notifier, never by the transaction that
made the jobs due.

A plain psycopg connection listens on the channel, as a worker process's
listener does. The process's one notifier sends names in the order they were
handed to it, after each commit, so each check ends with a marker: a job
enqueued on a queue of its own. Whatever did not arrive before the marker was
never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from pushgate.queue import Job, SqlQueue
from pushgate.queue.sql_notify import CHANNEL, NOTIFIER_APPLICATION_NAME, JobNotifier, notifier
from pushgate.registry import Database
from pushgate.simulators._base import ManualClock

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("database", ["postgresql"], indirect=True)]
T0 = 1_800_000_000.0
MARKER = "marker"

Received = Callable[[], list[str]]


@pytest.fixture
def received(database: Database) -> Iterator[Received]:
    """Listen on the channel; the function returns the queues notified until the next marker."""
    url = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    listener = psycopg.connect(url, autocommit=True)
    listener.execute(f"LISTEN {CHANNEL}")
    queue = SqlQueue(database)
    markers = 0

    def until_marker() -> list[str]:
        nonlocal markers
        markers += 1
        queue.enqueue([Job(f"marker-{markers}", MARKER, {})])
        got: list[str] = []
        for notification in listener.notifies(timeout=30):
            if notification.payload == MARKER:
                return got
            got.append(notification.payload)
        raise AssertionError(f"the marker's notification did not arrive (received {got})")

    yield until_marker
    listener.close()


def test_enqueued_due_jobs_notify_their_queues_once_per_transaction(
    database: Database, received: Received
) -> None:
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job("a1", "a", {}), Job("a2", "a", {}), Job("b1", "b", {}, run_at=T0 - 5)])
    assert sorted(received()) == ["a", "b"]  # one per queue: the commit's names are a set
    queue.enqueue([Job("a1", "a", {})])  # known already: nothing new
    queue.enqueue([Job("later", "c", {}, run_at=T0 + 60)])  # due later: time makes it due
    assert received() == []
    with database.session() as session:
        queue.enqueue_with(session, [Job("d1", "d", {})])
    assert received() == ["d"]


def test_jobs_made_due_again_notify_and_jobs_deferred_do_not(database: Database, received: Received) -> None:
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job(f"j{n}", "q", {}, max_tries=1 if n == 3 else 5) for n in range(4)])
    queue.enqueue([Job("s1", "scheduled", {}, run_at=T0 + 3600)])
    assert received() == ["q"]  # not "scheduled": due in an hour
    claimed = {job.id for job in queue.claim(["q"], limit=4, lease_seconds=60, worker="w")}
    assert claimed == {"j0", "j1", "j2", "j3"}
    assert received() == []  # claims and completions make nothing due
    queue.retry("j0", reason="backoff", run_at=T0 + 30)
    queue.complete(["j1"])
    assert received() == []
    queue.retry("j2", reason="worker stopping")  # handed back: due now, another process may take it
    assert received() == ["q"]
    queue.reschedule("scheduled", run_at=T0)  # a pause lifted early, a cancelled send
    assert received() == ["scheduled"]
    assert queue.fail("j3", "permanent")
    assert received() == []
    assert queue.requeue_failed(["j3"]) == 1
    assert received() == ["q"]


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any SQLAlchemy engine of this process runs meanwhile (the notifier's
    connection is psycopg's own, so none of its statements)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def test_the_transactions_that_make_jobs_due_do_not_notify(
    database: Database, received: Received, statements: list[str]
) -> None:
    """PostgreSQL commits notifying transactions one at a time (a cluster-wide lock until the
    commit record is flushed): the API's would queue on it. They leave it to the notifier."""
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job("a1", "a", {}, max_tries=1), Job("a2", "a", {})])
    with database.session() as session:
        queue.enqueue_with(session, [Job("b1", "b", {})])
    queue.claim(["a"], limit=2, lease_seconds=60, worker="w")
    queue.retry("a2", reason="worker stopping")
    queue.fail("a1", "permanent")
    queue.requeue_failed(["a1"])
    queue.enqueue([Job("c1", "c", {}, run_at=T0 + 60)])
    queue.reschedule("c", run_at=T0)
    ran = list(statements)
    assert ran
    assert not [sql for sql in ran if "notify" in sql.lower()]
    assert set(received()) == {"a", "b", "c"}  # yet they woke the listeners (repeats may fold)
    with psycopg.connect(database.url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as admin:
        names = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                              "AND datname = current_database()", (NOTIFIER_APPLICATION_NAME,)).fetchone()
    assert names == (1,)  # one notifier per process and database, whatever the number of queues


def enqueue_then_fail(database: Database, queue: SqlQueue, job: Job, *, in_savepoint: bool) -> None:
    """Enqueue ``job`` in a session (within a savepoint when asked) whose transaction then fails."""
    with database.session() as session:
        if in_savepoint:
            with session.begin_nested():
                queue.enqueue_with(session, [job])
        else:
            queue.enqueue_with(session, [job])
        raise RuntimeError("the request failed after its enqueue")


def test_a_rolled_back_enqueue_notifies_nobody(database: Database, received: Received) -> None:
    queue = SqlQueue(database)
    with pytest.raises(RuntimeError):
        enqueue_then_fail(database, queue, Job("gone", "rolled-back", {}), in_savepoint=False)
    assert received() == []
    with database.session() as session:  # a savepoint released: the outer transaction decides
        with session.begin_nested():
            queue.enqueue_with(session, [Job("kept", "nested", {})])
        assert received() == []  # not committed yet
    assert received() == ["nested"]
    with pytest.raises(RuntimeError):
        enqueue_then_fail(database, queue, Job("undone", "nested-then-rolled-back", {}), in_savepoint=True)
    with database.session() as session:  # a savepoint rolled back leaves the others' names
        queue.enqueue_with(session, [Job("outer", "outer", {})])
        with pytest.raises(RuntimeError), session.begin_nested():
            raise RuntimeError("one item fails alone")
    assert received() == ["outer"]
    assert queue.depth("rolled-back") == queue.depth("nested-then-rolled-back") == 0
    assert notifier(database).sends > 0


def test_the_notifier_reconnects_after_its_connection_is_terminated(
    database: Database, received: Received
) -> None:
    queue = SqlQueue(database)
    queue.enqueue([Job("before", "before", {})])
    assert received() == ["before"]
    with database.connect() as connection:
        terminated = connection.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = :name"
        ), {"name": NOTIFIER_APPLICATION_NAME}).scalars().all()
    assert terminated == [True]
    queue.enqueue([Job("after", "after", {})])  # its idle connection died: a fresh one at once
    assert received() == ["after"]


def test_a_notifier_that_cannot_connect_warns_once_and_never_raises(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = Database(database.url.set(host="127.0.0.1", port=1))
    try:
        lost = JobNotifier(unreachable)
        with caplog.at_level(logging.DEBUG, logger="pushgate.queue"):
            lost.notify("a")
            lost.notify("b")
            lost.close()  # sends what is pending first: it fails
            lost.notify("c")  # closed: ignored
    finally:
        unreachable.dispose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "job notifications not sent" in warnings[0].getMessage()
    assert lost.sends == 0
