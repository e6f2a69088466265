"""The SQL queue's notifications on PostgreSQL: which changes wake the workers of other processes.

A plain psycopg connection listens on the channel, as a worker process's
listener does. Notifications arrive in commit order, so each check ends with
a marker: a job enqueued on a queue of its own. Whatever did not arrive before
the marker was never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from pushgate.queue import Job, SqlQueue
from pushgate.queue.sql_notify import CHANNEL
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
    assert sorted(received()) == ["a", "b"]  # one per queue: PostgreSQL folds the repeats
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
