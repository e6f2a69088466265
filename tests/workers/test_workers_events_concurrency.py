"""Two workers deciding events for the same users at the same moment: the cooldown and the cap hold.

Each worker has its own database engine (as two processes would) and runs
in its own thread; a barrier starts them together, and each decides a
different batch holding an event for every one of the same users. The
cooldown and the frequency cap are conditional upserts checked by the rows
they return (:mod:`pushgate.registry.catalog.decide`), so whatever the
interleaving, each user is notified once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from pushgate.queue import SqlQueue
from pushgate.registry import Database
from pushgate.service.events import store_events
from pushgate.workers.events import BatchDecision, decide_batch
from tests.workers.event_helpers import event, put_message, set_event_settings
from tests.workers.test_workers_event_rules import Events

USERS = 40
ROUNDS = 3


def _race(db: Database, e: Events, event_id: int) -> list[BatchDecision]:
    """Two batches for the same users, decided at once by two workers; returns both decisions."""
    url = db.url.render_as_string(hide_password=False)
    ids = []
    for _ in range(2):
        stored = store_events(e.services, e.app_id,
                              [event(f"u{n}", event_id, name="N", count="1") for n in range(USERS)])
        assert stored.batch_id is not None
        ids.append(stored.batch_id)
    barrier = threading.Barrier(2)
    now = datetime.now(UTC)

    def work(batch_id: str) -> BatchDecision:
        with Database(url) as own:
            queue = SqlQueue(own)
            own.connect(write=False).__enter__().close()  # warm the pool: both start from the barrier
            barrier.wait(timeout=30)
            decision = decide_batch(own, queue, batch_id, chunk_size=100, max_tries=3, now=now)
            assert decision is not None
            return decision

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(work, ids))


def test_concurrent_workers_never_both_pass_the_cooldown(database: Database) -> None:
    e = Events(database)
    for n in range(USERS):
        e.user(f"u{n}")
    for round_ in range(ROUNDS):
        put_message(database, e.app_id, f"m{round_}", events=[3000 + round_], cooldown=3600)
        decisions = _race(database, e, 3000 + round_)
        notified = sum(d.counts["notified"] for d in decisions)
        cooled = sum(d.counts["cooldown"] for d in decisions)
        assert (notified, cooled) == (USERS, USERS), [d.counts for d in decisions]


def test_concurrent_workers_never_exceed_the_frequency_cap(database: Database) -> None:
    e = Events(database)
    set_event_settings(database, e.app_id, frequency_cap=1, frequency_window=86400)
    for n in range(USERS):
        e.user(f"u{n}")
    put_message(database, e.app_id, "capped", events=[3100])
    decisions = _race(database, e, 3100)
    assert sum(d.counts["notified"] for d in decisions) == USERS
    assert sum(d.counts["frequency_cap"] for d in decisions) == USERS
