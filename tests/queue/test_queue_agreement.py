"""The two queues agree: one seeded sequence of random operations, applied to the SQL queue and
to the Redis Streams queue on one clock, gets the same answers and leaves the same jobs.

Claims take every due job (a limit above the job count), so the answer does not depend on
how either queue breaks ties between jobs due at the same moment.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pushgate.queue import Job, JobInfo, Queue, QueueStats, SqlQueue
from pushgate.queue.redis_streams import RedisQueue, connect_redis
from pushgate.registry import Database
from pushgate.simulators._base import ManualClock

T0 = 1_900_000_000.0
IDS = [f"j{n}" for n in range(30)]
QUEUES = ["a", "b"]
WORKERS = ["w1", "w2"]


@pytest.fixture
def queues(
    database: Database, redis_url: str, redis_prefix: str
) -> Iterator[tuple[ManualClock, Queue, Queue]]:
    clock = ManualClock(T0)
    redis_queue = RedisQueue(connect_redis(redis_url), database, prefix=redis_prefix, clock=clock)
    yield clock, SqlQueue(database, clock=clock), redis_queue
    redis_queue.close()


def _state(info: JobInfo | None) -> tuple[Any, ...] | None:
    if info is None:
        return None
    return (info.queue, info.payload, info.status, info.run_at, info.due_at, info.attempts, info.max_tries,
            info.size, info.lease_owner, info.last_error, info.created_at, info.updated_at)


def _operations(rng: random.Random, clock: ManualClock) -> list[tuple[str, Callable[[Queue], Any]]]:
    now = clock()
    some = rng.sample(IDS, rng.randint(1, 4))
    worker = rng.choice(WORKERS)
    later = now + rng.choice([-5.5, 3.25, 12.5, 40.0])
    forward = now + rng.choice([0.0, 3.25, 12.5])  # reschedule is called with run-at now or later
    requeue_at = rng.choice([None, later])

    def enqueue(q: Queue) -> int:
        return q.enqueue([
            Job(i, rng_queue[i], {"i": i}, run_at=rng_run_at[i], max_tries=2 + len(i) % 3, size=len(i))
            for i in some
        ])

    rng_queue = {i: QUEUES[int(i[1:]) % 2] for i in some}
    rng_run_at = {i: rng.choice([None, now - 1.5, now + 7.75]) for i in some}
    lease = rng.choice([5.0, 10.0, 30.0])
    reason = rng.choice(["429", "503", "timeout"])
    suffix = rng.choice(["", "1", "3"])
    head = rng.choice(["", "j1", "j2"])
    return [
        ("enqueue", enqueue),
        ("claim", lambda q: sorted((j.id, j.attempt, j.reclaimed_from, j.run_at, j.size, j.lease_until)
                                   for j in q.claim(QUEUES, limit=100, lease_seconds=lease, worker=worker))),
        ("claim one queue", lambda q: sorted(j.id for j in q.claim(["a"], limit=100, lease_seconds=lease,
                                                                   worker=worker))),
        ("complete", lambda q: q.complete(some)),
        ("retry", lambda q: q.retry(some[0], reason=reason, run_at=later)),
        ("retry now", lambda q: q.retry(some[0], reason=reason)),
        ("fail", lambda q: q.fail(some[0], reason)),
        ("extend", lambda q: sorted(q.extend(some, lease, worker=worker))),
        ("extend any", lambda q: sorted(q.extend(some, lease))),
        ("reschedule", lambda q: q.reschedule(rng_queue[some[0]], run_at=forward, id_suffix=suffix,
                                              id_prefix=head)),
        ("requeue", lambda q: q.requeue_failed(some, run_at=requeue_at)),
        ("purge", lambda q: q.purge(older_than=now - 20, include_failed=len(some) % 2 == 0)),
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_random_operations_get_the_same_answers_from_both_queues(
    queues: tuple[ManualClock, Queue, Queue], seed: int
) -> None:
    clock, sql, redis_queue = queues
    rng = random.Random(seed)
    for step in range(300):
        name, operation = rng.choice(_operations(rng, clock))
        expected, got = operation(sql), operation(redis_queue)
        assert got == expected, f"step {step}: {name}"
        assert redis_queue.depths() == sql.depths(), f"step {step}: {name}"
        if step % 10 == 9:  # the full comparison is the slow part
            for job_id in IDS:
                assert _state(redis_queue.get(job_id)) == _state(sql.get(job_id)), f"step {step}: {job_id}"
            assert {q: s for q, s in redis_queue.stats().items() if s != QueueStats()} == sql.stats()
            assert sorted(j.id for j in redis_queue.failed_jobs()) == sorted(j.id for j in sql.failed_jobs())
        clock.advance(rng.choice([0.0, 0.5, 4.0, 11.0]))
