"""The queue contract, on every implementation: idempotent enqueue, run-at, leases, tries,
concurrency. The SQL queue runs on SQLite and PostgreSQL, the Redis Streams queue on a real
Redis (its outbox on both databases); the transactional enqueue of each has tests of its own.

Time is a ManualClock: leases expire because the test moves the clock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from pushgate.queue import ClaimTier, Job, JobStatus, Queue, SqlQueue
from pushgate.queue.redis_streams import RedisQueue, connect_redis
from pushgate.queue.sql import LEASE_EXPIRED_ON_LAST_TRY
from pushgate.registry import Database
from pushgate.simulators._base import ManualClock

T0 = 1_900_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


MakeQueue = Callable[[Database], Queue]


@pytest.fixture(params=["sql", "redis"])
def make_queue(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[MakeQueue]:
    """Builds queues sharing one store, like the processes of one deployment."""
    opened: list[RedisQueue] = []

    def make(database: Database) -> Queue:
        if request.param == "sql":
            return SqlQueue(database, clock=clock)
        url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")
        opened.append(RedisQueue(connect_redis(url), database, prefix=prefix, clock=clock))
        return opened[-1]

    yield make
    for queue in opened:
        queue.close()


@pytest.fixture
def queue(database: Database, make_queue: MakeQueue) -> Queue:
    return make_queue(database)


@pytest.fixture
def sql_queue(database: Database, clock: ManualClock) -> SqlQueue:
    return SqlQueue(database, clock=clock)


def claim_ids(
    queue: Queue, *queues: str, limit: int = 100, lease: float = 30, worker: str = "w"
) -> list[str]:
    return [job.id for job in queue.claim(list(queues), limit=limit, lease_seconds=lease, worker=worker)]


def test_enqueue_is_idempotent_by_id(queue: Queue) -> None:
    assert queue.enqueue([Job("a", "q", {"n": 1}), Job("b", "q", {"n": 2}), Job("a", "q", {"n": 3})]) == 2
    assert queue.enqueue([Job("a", "q", {"n": 4}), Job("c", "q", {})]) == 1
    assert queue.enqueue([]) == 0
    info = queue.get("a")
    assert info is not None
    assert (info.payload, info.status, info.attempts) == ({"n": 1}, JobStatus.QUEUED, 0)
    claimed = queue.claim(["q"], limit=10, lease_seconds=30, worker="w")
    assert sorted(job.id for job in claimed) == ["a", "b", "c"]
    queue.complete(["a"])
    assert queue.enqueue([Job("a", "q", {})]) == 0  # done, not purged: still a duplicate
    assert queue.get("missing") is None


def test_enqueue_on_an_open_transaction_commits_and_rolls_back_with_it(
    database: Database, sql_queue: Queue
) -> None:
    queue = sql_queue
    with database.connect() as connection:
        assert queue.enqueue_with(connection, [Job("kept", "q", {})]) == 1
        assert queue.enqueue_with(connection, [Job("kept", "q", {})]) == 0  # same transaction
        assert queue.get("kept") is None  # other connections see it only after the commit
    assert queue.get("kept") is not None

    class Refused(Exception):
        pass

    def store_then_fail() -> None:
        with database.connect() as connection:
            queue.enqueue_with(connection, [Job("lost", "q", {})])
            raise Refused  # e.g. the send row it belongs to failed to store

    with pytest.raises(Refused):
        store_then_fail()
    assert queue.get("lost") is None
    assert claim_ids(queue, "q") == ["kept"]


def test_run_at_defers_a_job(queue: Queue, clock: ManualClock) -> None:
    queue.enqueue([Job("later", "q", {}, run_at=T0 + 60), Job("now", "q", {})])
    assert claim_ids(queue, "q", lease=600) == ["now"]
    clock.advance(59.9)
    assert claim_ids(queue, "q") == []
    clock.advance(0.1)
    [job] = queue.claim(["q"], limit=5, lease_seconds=30, worker="w")
    assert (job.id, job.run_at, job.attempt, job.lease_until) == ("later", T0 + 60, 1, T0 + 90)


def test_has_due_says_whether_a_claim_would_find_a_job(sql_queue: SqlQueue, clock: ManualClock) -> None:
    """The busy worker's look for login codes sent through another process: a read, no claim."""
    assert not sql_queue.has_due(["q"])
    assert not sql_queue.has_due([])
    sql_queue.enqueue([Job("later", "q", {}, run_at=T0 + 60), Job("other", "elsewhere", {})])
    assert not sql_queue.has_due(["q"])  # scheduled, not due
    assert sql_queue.has_due(["q", "elsewhere"])
    sql_queue.enqueue([Job("now", "q", {})])
    assert sql_queue.has_due(["q"])
    assert claim_ids(sql_queue, "q", lease=30) == ["now"]
    assert not sql_queue.has_due(["q"])  # leased: not due until its lease runs out
    clock.advance(30)
    assert sql_queue.has_due(["q"])  # the holder is presumed dead: claimable again
    sql_queue.complete(["now"])
    assert not sql_queue.has_due(["q"])
    clock.advance(30)
    assert sql_queue.has_due(["q"])  # "later" is due now
    info = sql_queue.get("later")
    assert info is not None
    assert info.status == JobStatus.QUEUED  # looking claimed nothing


def test_claim_respects_queues_limit_and_order(queue: Queue) -> None:
    queue.enqueue([Job(f"j{i}", "a" if i % 2 else "b", {}, run_at=T0 - i) for i in range(10)])
    assert claim_ids(queue, "a", limit=3) == ["j9", "j7", "j5"]  # oldest run-at first
    assert claim_ids(queue, "c") == []
    assert sorted(claim_ids(queue, "a", "b")) == ["j0", "j1", "j2", "j3", "j4", "j6", "j8"]
    assert claim_ids(queue, "a", "b") == []


def test_a_lease_blocks_others_until_it_expires(queue: Queue, clock: ManualClock) -> None:
    queue.enqueue([Job("x", "q", {"k": "v"})])
    assert claim_ids(queue, "q", worker="first") == ["x"]
    clock.advance(29)
    assert claim_ids(queue, "q", worker="second") == []
    clock.advance(1)  # lease_until reached: the first worker is presumed dead
    [again] = queue.claim(["q"], limit=1, lease_seconds=30, worker="second")
    assert (again.id, again.attempt, again.worker, again.payload) == ("x", 2, "second", {"k": "v"})
    info = queue.get("x")
    assert info is not None
    assert (info.status, info.lease_owner, info.due_at) == (JobStatus.LEASED, "second", clock() + 30)


def test_a_claim_says_whose_expired_lease_it_took_over(queue: Queue, clock: ManualClock) -> None:
    queue.enqueue([Job("x", "q", {}), Job("y", "q", {})])
    [first] = queue.claim(["q"], limit=1, lease_seconds=15, worker="dead")
    assert first.reclaimed_from is None  # a fresh claim takes over nobody's lease
    clock.advance(15)
    by_id = {job.id: job for job in queue.claim(["q"], limit=2, lease_seconds=15, worker="alive")}
    assert (by_id[first.id].reclaimed_from, by_id[first.id].attempt) == ("dead", 2)
    assert by_id["y" if first.id == "x" else "x"].reclaimed_from is None


def test_extend_is_a_heartbeat_for_the_holder(queue: Queue, clock: ManualClock) -> None:
    queue.enqueue([Job("x", "q", {}), Job("y", "q", {})])
    claim_ids(queue, "q", worker="w1")
    clock.advance(25)
    assert sorted(queue.extend(["x", "y", "nope"], 30, worker="w1")) == ["x", "y"]
    assert queue.extend(["x"], 30, worker="w2") == []  # not the holder
    clock.advance(25)  # 50 s after the claim, 25 s after the heartbeat
    assert claim_ids(queue, "q", worker="w2") == []
    clock.advance(5)
    assert sorted(claim_ids(queue, "q", worker="w2")) == ["x", "y"]
    assert queue.extend(["x"], 30, worker="w1") == []  # lost the lease to w2


def test_retry_with_run_at_and_max_tries(queue: Queue, clock: ManualClock) -> None:
    queue.enqueue([Job("r", "q", {}, max_tries=3)])
    for attempt in (1, 2):
        [job] = queue.claim(["q"], limit=1, lease_seconds=30, worker="w")
        assert (job.attempt, job.last_try) == (attempt, False)
        assert queue.retry("r", reason=f"429 #{attempt}", run_at=clock() + 10) is True
        assert claim_ids(queue, "q") == []  # backing off
        clock.advance(10)
    [job] = queue.claim(["q"], limit=1, lease_seconds=30, worker="w")
    assert (job.attempt, job.last_try) == (3, True)
    assert queue.retry("r", reason="503 again", run_at=clock() + 10) is False
    info = queue.get("r")
    assert info is not None
    assert (info.status, info.last_error, info.attempts) == (JobStatus.FAILED, "503 again", 3)
    clock.advance(60)
    assert claim_ids(queue, "q") == []
    assert [j.id for j in queue.failed_jobs("q")] == ["r"]
    assert queue.requeue_failed(["r"]) == 1
    [job] = queue.claim(["q"], limit=1, lease_seconds=30, worker="w")
    assert job.attempt == 1


def test_a_lease_expiring_on_the_last_try_dead_letters_the_job(queue: Queue, clock: ManualClock) -> None:
    queue.enqueue([Job("k", "q", {}, max_tries=2)])
    claim_ids(queue, "q")
    clock.advance(30)
    assert claim_ids(queue, "q") == ["k"]  # second and last try
    clock.advance(30)  # the worker was killed again
    assert claim_ids(queue, "q") == []
    info = queue.get("k")
    assert info is not None
    assert (info.status, info.last_error) == (JobStatus.FAILED, LEASE_EXPIRED_ON_LAST_TRY)


def test_fail_and_complete(queue: Queue) -> None:
    queue.enqueue([Job("f", "q", {}), Job("c", "q", {}), Job("d", "q", {})])
    claim_ids(queue, "q")
    assert queue.fail("f", "400 BadTopic") is True
    assert queue.fail("f", "again") is False
    assert queue.complete(["c", "d", "f", "nope"]) == 2
    assert queue.complete([]) == 0
    got = queue.get("f")
    assert got is not None
    assert got.status is JobStatus.FAILED
    got = queue.get("c")
    assert got is not None
    assert got.status is JobStatus.DONE


def test_depth_counts_pending_work_items(queue: Queue, clock: ManualClock) -> None:
    assert queue.depth() == 0
    queue.enqueue([
        Job("d1", "deliver:apns", {}, size=500), Job("d2", "deliver:apns", {}, size=120),
        Job("d3", "deliver:fcm", {}, size=500), Job("f1", "fanout", {}, run_at=T0 + 3600),
    ])
    assert queue.depth() == 1121
    assert queue.depth("deliver:apns") == 620
    assert queue.depths() == {"deliver:apns": 620, "deliver:fcm": 500, "fanout": 1}
    claim_ids(queue, "deliver:apns", limit=1)
    assert queue.depth("deliver:apns") == 620  # leased work is still pending
    queue.complete(["d1", "d2"])
    assert queue.depth() == 501
    stats = queue.stats()
    assert stats["deliver:apns"].done == 2
    assert (stats["fanout"].scheduled, stats["fanout"].ready) == (1, 0)
    assert (stats["deliver:fcm"].ready, stats["deliver:fcm"].items) == (1, 500)


def test_reschedule_brings_matching_deferred_jobs_forward(queue: Queue, clock: ManualClock) -> None:
    later = T0 + 3600
    queue.enqueue([
        Job("a~1.1P", "deliver:wns", {}, run_at=later),  # deferred: moves
        Job("b~1.1P", "deliver:wns", {}, run_at=T0 - 1),  # leased below: stays leased
        Job("c~2.0R", "deliver:wns", {}, run_at=later),  # another suffix
        Job("d~1.1P", "deliver:apns", {}, run_at=later),  # another queue
        Job("f~1.1P", "deliver:wns", {}, run_at=T0 + 5),  # due before the new run-at already
    ])
    assert claim_ids(queue, "deliver:wns", limit=1, lease=7200) == ["b~1.1P"]
    assert queue.reschedule("deliver:wns", run_at=T0 + 10, id_suffix="%P") == 0  # % is no wildcard
    assert queue.reschedule("deliver:wns", run_at=T0 + 10, id_suffix="P") == 1

    def due(job_id: str) -> tuple[float, float, JobStatus]:
        info = queue.get(job_id)
        assert info is not None
        return info.run_at, info.due_at, info.status

    assert due("a~1.1P") == (T0 + 10, T0 + 10, JobStatus.QUEUED)
    assert due("b~1.1P") == (T0 - 1, T0 + 7200, JobStatus.LEASED)
    assert due("c~2.0R") == (later, later, JobStatus.QUEUED)
    assert due("d~1.1P") == (later, later, JobStatus.QUEUED)
    assert due("f~1.1P") == (T0 + 5, T0 + 5, JobStatus.QUEUED)
    assert queue.reschedule("deliver:wns", run_at=T0 + 20, id_suffix="P") == 0  # never pushed back
    clock.advance(10)
    assert claim_ids(queue, "deliver:wns") == ["f~1.1P", "a~1.1P"]


def test_purge_removes_finished_jobs(queue: Queue, clock: ManualClock) -> None:
    queue.enqueue([Job("done", "q", {}), Job("dead", "q", {}), Job("open", "q", {})])
    claim_ids(queue, "q")
    queue.complete(["done"])
    queue.fail("dead", "x")
    clock.advance(3600)
    assert queue.purge(older_than=clock() - 60) == 1
    assert queue.get("done") is None
    assert queue.purge(older_than=clock() - 60, include_failed=True) == 1
    assert queue.get("open") is not None
    assert queue.enqueue([Job("done", "q", {})]) == 1  # purged ids can be used again


def test_concurrent_claimers_never_share_a_job(database: Database, make_queue: MakeQueue) -> None:
    make_queue(database).enqueue([Job(f"c{i}", "q", {"i": i}) for i in range(400)])
    # Two Database objects: two engines and pools, like two worker processes.
    databases = [database, Database(database.url)]
    got: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        queue = queues[n]
        try:
            while True:
                jobs = queue.claim(["q"], limit=7, lease_seconds=300, worker=f"w{n}")
                if not jobs:
                    return
                with lock:
                    got.extend(job.id for job in jobs)
                queue.complete([job.id for job in jobs])
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    queues = [make_queue(databases[n % 2]) for n in range(6)]  # a client (pool) each
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    databases[1].dispose()
    assert errors == []
    assert len(got) == 400
    assert Counter(got).most_common(1)[0][1] == 1
    assert make_queue(database).depth() == 0


def test_enqueue_with_takes_a_session_and_only_the_queues_own_database(
    database: Database, sql_queue: Queue, tmp_path: Path
) -> None:
    queue = sql_queue
    with database.session() as session:
        assert queue.enqueue_with(session, [Job("in-session", "q", {})]) == 1
        assert queue.get("in-session") is None  # not before the session's commit
    assert queue.get("in-session") is not None
    with (
        Database(f"sqlite:///{tmp_path}/other.db") as other,
        other.connect() as connection,
        pytest.raises(ValueError, match="own database"),
    ):
        queue.enqueue_with(connection, [Job("elsewhere", "q", {})])
    assert queue.get("elsewhere") is None


def test_claim_tiers_gives_each_tier_the_room_the_tiers_before_it_left(
    queue: Queue, clock: ManualClock
) -> None:
    """The workers' lanes: a tier is claimed before the next one, and only the tiers that
    may use the reserved slots get them (workers/sender.py)."""
    first, second, rest = ClaimTier(("f",), reserved=True), ClaimTier(("w",)), ClaimTier(("b",))
    tiers = [first, second, rest]
    queue.enqueue([Job(f"b{i}", "b", {"i": i}, run_at=T0 - 60 + i) for i in range(4)])
    queue.enqueue([Job("w0", "w", {}, run_at=T0 - 30)])

    def claim(limit: int, reserved: int) -> list[str]:
        return [job.id for job in queue.claim_tiers(tiers, limit=limit, reserved=reserved,
                                                    lease_seconds=30, worker="w")]

    assert claim(0, 2) == []  # only reserved slots free: neither the webhook nor the broadcast
    queue.enqueue([Job("f0", "f", {}, run_at=T0 - 3), Job("f1", "f", {}, run_at=T0 - 2),
                   Job("f2", "f", {}, run_at=T0 - 1)])
    assert claim(0, 2) == ["f0", "f1"]
    # One ordinary and one reserved slot: f2 takes the reserved one, the next tier the other.
    assert claim(1, 1) == ["f2", "w0"]
    assert claim(3, 2) == ["b0", "b1", "b2"]  # reserved slots are not for broadcast jobs
    # Tier by tier, each oldest first; a lease expired on its last try is dead-lettered.
    queue.enqueue([Job("f3", "f", {}, run_at=T0 - 90), Job("k", "b", {}, max_tries=1, run_at=T0 - 90)])
    clock.advance(30)  # every lease above expires; k was never claimed
    claimed = queue.claim_tiers(tiers, limit=10, reserved=0, lease_seconds=30, worker="v")
    assert [job.id for job in claimed] == ["f3", "f0", "f1", "f2", "w0", "k", "b0", "b1", "b2", "b3"]
    assert {job.id: job.reclaimed_from for job in claimed if job.reclaimed_from} == {
        "f0": "w", "f1": "w", "f2": "w", "w0": "w", "b0": "w", "b1": "w", "b2": "w"}
    assert claimed[-1].payload == {"i": 3}
    clock.advance(30)
    assert [job.id for job in queue.claim_tiers(tiers, limit=20, lease_seconds=30, worker="v")] == [
        "f3", "f0", "f1", "f2", "w0", "b0", "b1", "b2", "b3"]
    info = queue.get("k")
    assert info is not None
    assert (info.status, info.last_error) == (JobStatus.FAILED, LEASE_EXPIRED_ON_LAST_TRY)


def test_a_sql_claim_looks_at_every_tier_in_one_transaction(database: Database, clock: ManualClock) -> None:
    """A claim is per job: three transactions (one a tier) cost three times the CPU of one."""
    if not database.is_sqlite:
        pytest.skip("counted with SQLite's statement trace")
    statements: list[str] = []
    database.engine.dispose()  # connections opened from here on are traced
    event.listen(database.engine, "connect",
                 lambda connection, _record: connection.set_trace_callback(statements.append))
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job("b0", "b", {}), Job("b1", "b", {})])
    statements.clear()
    tiers = [ClaimTier(("f",), reserved=True), ClaimTier(("w",)), ClaimTier(("b",))]
    [job] = queue.claim_tiers(tiers, limit=1, reserved=2, lease_seconds=30, worker="w")
    assert job.id == "b0"
    assert [s.split()[0] for s in statements].count("BEGIN") == 1
    assert [s for s in statements if s.startswith("COMMIT")] == ["COMMIT"]
    statements.clear()
    assert queue.complete([job.id]) == 1
    assert [s.split()[0] for s in statements].count("BEGIN") == 1
