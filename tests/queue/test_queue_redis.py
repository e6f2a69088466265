"""The Redis Streams queue beyond the shared contract: its outbox, its data model, lanes, dropped
connections, start-up errors — on a real Redis, and the outbox on SQLite and PostgreSQL.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pushgate.errors import ConfigurationError
from pushgate.notification import Notification
from pushgate.planner import FANOUT_QUEUE, deliver_queue
from pushgate.planner.jobs import fanout_job, fanout_job_id
from pushgate.queue import Job, JobStatus
from pushgate.queue.outbox import OutboxRelay
from pushgate.queue.redis_scripts import GROUP
from pushgate.queue.redis_streams import RedisQueue, connect_redis
from pushgate.registry import Database, create_app, create_send
from pushgate.service import Settings, open_queue, submit_send
from pushgate.simulators._base import ManualClock
from pushgate.workers.sender import ALL_QUEUES, claim_by_tier, claim_tiers

T0 = 1_900_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def queue(database: Database, redis_url: str, redis_prefix: str, clock: ManualClock) -> Iterator[RedisQueue]:
    opened = RedisQueue(connect_redis(redis_url), database, prefix=redis_prefix, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def _unreachable_redis() -> redis.Redis:
    """A client of a port nobody listens on (a process that lost Redis, then died)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


def _store_send(database: Database, queue: RedisQueue) -> str:
    """A send and its fan-out job, committed together the way the submit path does it."""
    with database.session() as session:
        app, _ = create_app(session, "shop")
        send = create_send(session, app.id, {"title": "Hi"}, {"all": True})
        assert queue.enqueue_with(session, [fanout_job(send.id)]) == 1
    return fanout_job_id(send.id)


# --- the outbox ---


def test_a_submitted_send_reaches_redis_at_commit(database: Database, queue: RedisQueue) -> None:
    with database.session() as session:
        app, _ = create_app(session, "shop")
    accepted = submit_send(database, queue, Settings(), app.id, Notification(title="Hi"), {"all": True})
    job = queue.get(fanout_job_id(accepted.response["id"]))
    assert job is not None  # the commit hook moved it
    assert job.status is JobStatus.QUEUED
    assert queue.relay.pending() == 0
    assert queue.depths() == {FANOUT_QUEUE: 1}


def test_a_crash_between_commit_and_relay_loses_nothing_and_duplicates_nothing(
    database: Database, queue: RedisQueue, clock: ManualClock, redis_prefix: str
) -> None:
    # The process commits the send, cannot reach Redis, and dies before any relay run.
    crashed = RedisQueue(_unreachable_redis(), database, prefix=redis_prefix, clock=clock)
    job_id = _store_send(database, crashed)
    assert crashed.relay.pending() == 1
    assert queue.get(job_id) is None

    # The next process's relay moves the committed row, once.
    assert queue.relay.relay_pending() == 1
    assert queue.relay.relay_pending() == 0
    assert queue.relay.pending() == 0
    assert [job.id for job in queue.claim([FANOUT_QUEUE], limit=10, lease_seconds=30, worker="w")] == [job_id]
    assert queue.claim([FANOUT_QUEUE], limit=10, lease_seconds=30, worker="w") == []
    assert queue.depth() == 1


def test_a_relay_that_dies_after_redis_stored_the_jobs_duplicates_nothing(
    database: Database, queue: RedisQueue, clock: ManualClock
) -> None:
    class Died(Exception):
        pass

    def store_then_die(jobs: Sequence[Job]) -> int:
        queue.enqueue(jobs)
        raise Died  # before the outbox rows were deleted

    job_id = _store_send(database, RedisQueue(_unreachable_redis(), database, clock=clock))
    with pytest.raises(Died):
        OutboxRelay(database, store_then_die, clock=clock).relay_pending()
    assert queue.relay.pending() == 1  # the deletion rolled back with the relay's transaction
    assert queue.relay.relay_pending() == 1  # moved again: the queue ignores the copy
    assert queue.depth(FANOUT_QUEUE) == 1
    [job] = queue.claim([FANOUT_QUEUE], limit=10, lease_seconds=30, worker="w")
    assert (job.id, job.attempt) == (job_id, 1)


def test_a_rolled_back_transaction_enqueues_nothing(database: Database, queue: RedisQueue) -> None:
    class Refused(Exception):
        pass

    def store_then_fail() -> None:
        with database.session() as session:
            queue.enqueue_with(session, [Job("lost", "q", {})])
            raise Refused  # e.g. the send row it belongs to failed to store

    def store_on_a_connection_then_fail() -> None:
        with database.connect() as connection:
            queue.enqueue_with(connection, [Job("lost too", "q", {})])
            raise Refused

    with pytest.raises(Refused):
        store_then_fail()
    with pytest.raises(Refused):
        store_on_a_connection_then_fail()
    assert queue.relay.pending() == 0
    assert queue.relay.relay_pending() == 0
    assert (queue.get("lost"), queue.get("lost too"), queue.depth()) == (None, None, 0)


def test_jobs_written_in_a_savepoint_reach_redis_when_the_outer_transaction_commits(
    database: Database, queue: RedisQueue
) -> None:
    # Releasing a savepoint fires the session's after_commit too; the rows are not committed
    # then, so relaying at that moment would move nothing and leave them to the 1 s background pass.
    with database.session() as session:
        with session.begin_nested():
            queue.enqueue_with(session, [Job("kept", "q", {})])
        undone = session.begin_nested()
        queue.enqueue_with(session, [Job("undone", "q", {})])
        undone.rollback()
        assert queue.get("kept") is None  # not before the outer commit
    assert queue.get("kept") is not None
    assert queue.get("undone") is None
    assert queue.relay.pending() == 0


def test_the_background_relay_moves_rows_a_connection_committed(
    database: Database, queue: RedisQueue
) -> None:
    queue.start_relay()
    with database.connect() as connection:  # a Core connection has no after-commit hook
        assert queue.enqueue_with(connection, [Job("a", "q", {}), Job("a", "q", {}), Job("b", "q", {})]) == 3
    queue.relay.stop()  # a stop finishes the pass in progress and moves what is left
    assert queue.relay.pending() == 0
    assert queue.depth("q") == 2  # the duplicate row stored the job once
    assert sorted(job.id for job in queue.claim(["q"], limit=5, lease_seconds=30, worker="w")) == ["a", "b"]


def test_enqueue_with_needs_the_outbox_database(
    queue: RedisQueue, tmp_path: object
) -> None:
    with (
        Database(f"sqlite:///{tmp_path}/other.db") as other,
        other.connect() as connection,
        pytest.raises(ValueError, match="own database"),
    ):
        queue.enqueue_with(connection, [Job("elsewhere", "q", {})])
    with pytest.raises(ValueError, match="max_tries"):
        queue.enqueue([Job("bad", "q", {}, max_tries=0)])


# --- the data model in Redis (docs/scale-out.md §2) ---


def test_streams_consumer_group_and_lease_index(
    queue: RedisQueue, raw: redis.Redis, redis_prefix: str, clock: ManualClock
) -> None:
    stream = f"{redis_prefix}ready:q"
    queue.enqueue([Job("x", "q", {"n": 1}, size=7), Job("later", "q", {}, run_at=T0 + 60)])
    assert raw.zrange(f"{redis_prefix}delayed:q", 0, -1) == ["x", "later"]  # run-at order
    assert raw.hget(f"{redis_prefix}depth", "q") == "8"
    [job] = queue.claim(["q"], limit=5, lease_seconds=30, worker="w1")
    assert job.id == "x"
    assert raw.zrange(f"{redis_prefix}delayed:q", 0, -1) == ["later"]
    pending = raw.xpending_range(stream, GROUP, "-", "+", 10)
    entry = raw.hget(f"{redis_prefix}job:x", "entry")
    assert [(p["consumer"], p["message_id"]) for p in pending] == [("w1", entry)]
    assert raw.zscore(f"{redis_prefix}leases:q", "x") == T0 + 30

    clock.advance(30)  # w1's lease ran out: the claim takes over its pending entry
    [again] = queue.claim(["q"], limit=5, lease_seconds=30, worker="w2")
    assert (again.id, again.reclaimed_from, again.attempt) == ("x", "w1", 2)
    assert [p["consumer"] for p in raw.xpending_range(stream, GROUP, "-", "+", 10)] == ["w2"]

    assert queue.complete(["x"]) == 1
    assert (raw.xlen(stream), raw.xpending(stream, GROUP)["pending"]) == (0, 0)
    assert raw.zcard(f"{redis_prefix}leases:q") == 0
    assert raw.zscore(f"{redis_prefix}done:q", "x") == T0 + 30
    assert raw.hget(f"{redis_prefix}depth", "q") == "1"
    assert queue.purge(older_than=T0 + 31) == 1
    assert raw.exists(f"{redis_prefix}job:x") == 0


def test_purge_forgets_consumers_that_hold_nothing(
    queue: RedisQueue, raw: redis.Redis, redis_prefix: str
) -> None:
    queue.enqueue([Job("x", "q", {}), Job("y", "q", {})])
    [first] = queue.claim(["q"], limit=1, lease_seconds=30, worker="stopped")
    queue.complete([first.id])
    queue.claim(["q"], limit=1, lease_seconds=30, worker="busy")
    stream = f"{redis_prefix}ready:q"
    assert sorted(c["name"] for c in raw.xinfo_consumers(stream, GROUP)) == ["busy", "stopped"]
    queue.purge(older_than=T0)  # "stopped" was not idle for an hour yet
    assert sorted(c["name"] for c in raw.xinfo_consumers(stream, GROUP)) == ["busy", "stopped"]
    queue.consumer_idle_ms = 0
    queue.purge(older_than=T0)
    assert [c["name"] for c in raw.xinfo_consumers(stream, GROUP)] == ["busy"]  # it still holds a job


def test_direct_lanes_are_claimed_before_the_broadcast_backlog(queue: RedisQueue) -> None:
    queue.enqueue([Job(f"b{i}", deliver_queue("apns"), {}, run_at=T0 - 60 + i) for i in range(3)])
    queue.enqueue([Job("d0", deliver_queue("fcm", direct=True), {}, run_at=T0 - 1)])
    tiers = claim_tiers(ALL_QUEUES)

    def claim(limit: int) -> list[str]:
        return [job.id for job in claim_by_tier(queue, tiers, limit=limit, lease_seconds=60, worker="w")]

    assert claim(1) == ["d0"]
    assert claim(2) == ["b0", "b1"]
    queue.enqueue([Job("d1", deliver_queue("apns", direct=True), {}), Job("f0", FANOUT_QUEUE, {})])
    assert sorted(claim(5)) == ["b2", "d1", "f0"]
    assert claim(5) == []


def test_a_claim_over_several_queues_takes_the_oldest_and_keeps_the_rest(queue: RedisQueue) -> None:
    queue.enqueue([Job(f"a{i}", "a", {}, run_at=T0 - 10 + 2 * i) for i in range(4)])
    queue.enqueue([Job(f"b{i}", "b", {}, run_at=T0 - 9 + 2 * i) for i in range(4)])
    first = [job.id for job in queue.claim(["a", "b"], limit=3, lease_seconds=30, worker="w")]
    assert first == ["a0", "b0", "a1"]
    rest = [job.id for job in queue.claim(["a", "b"], limit=10, lease_seconds=30, worker="w")]
    assert rest == ["b1", "a2", "b2", "a3", "b3"]  # what the first claim read past its limit came back


# --- connections and start-up ---


def test_the_queue_survives_its_connections_being_killed(
    database: Database, redis_url: str, redis_prefix: str, raw: redis.Redis
) -> None:
    name = f"pushgate-test-{redis_prefix.split(':')[1]}"
    queue = RedisQueue(connect_redis(redis_url, client_name=name), database, prefix=redis_prefix)
    try:
        queue.enqueue([Job("x", "q", {}), Job("y", "q", {})])
        killed = [c["id"] for c in raw.client_list() if c["name"] == name]
        assert killed
        for client_id in killed:
            raw.client_kill_filter(_id=client_id)
        claimed = queue.claim(["q"], limit=5, lease_seconds=30, worker="w")
        assert sorted(job.id for job in claimed) == ["x", "y"]
        assert queue.complete(["x", "y"]) == 2
        assert not {c["id"] for c in raw.client_list() if c["name"] == name} & set(killed)  # new connection
    finally:
        queue.close()


def test_queue_redis_needs_a_url_and_a_reachable_server(database: Database, redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="PUSHGATE_REDIS_URL"):
        Settings.load(environ={"PUSHGATE_QUEUE": "redis"})
    dead = _unreachable_redis().get_connection_kwargs()
    settings = Settings.load(environ={
        "PUSHGATE_QUEUE": "redis", "PUSHGATE_REDIS_URL": f"redis://:secret@127.0.0.1:{dead['port']}/0",
    })
    assert settings.redacted()["redis_url"] == "**********"
    with pytest.raises(ConfigurationError, match="not reachable") as refused:
        open_queue(settings, database)
    assert "PUSHGATE_REDIS_URL" in str(refused.value)
    assert "secret" not in str(refused.value)

    working = Settings.load(environ={"PUSHGATE_QUEUE": "redis", "PUSHGATE_REDIS_URL": redis_url,
                                     "PUSHGATE_REDIS_KEY_PREFIX": "pushgate-test:open:"})
    opened = open_queue(working, database)
    try:
        assert isinstance(opened, RedisQueue)
        assert opened.prefix == "pushgate-test:open:"
        assert opened.depth() == 0
    finally:
        opened.close()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_the_commands_refuse_to_start_without_a_reachable_redis(database: Database, command: str) -> None:
    from typer.testing import CliRunner

    from pushgate.cli import app as cli

    url = database.url.render_as_string(hide_password=False)
    port = _unreachable_redis().get_connection_kwargs()["port"]
    env = {"PUSHGATE_DATABASE_URL": url, "PUSHGATE_CONFIG": None, "PUSHGATE_QUEUE": "redis",
           "PUSHGATE_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    refused = CliRunner().invoke(cli, [command], env=env)
    assert refused.exit_code == 2
    assert "Redis is not reachable" in refused.output
    assert "PUSHGATE_REDIS_URL" in refused.output
    missing = CliRunner().invoke(cli, [command], env={**env, "PUSHGATE_REDIS_URL": None})
    assert missing.exit_code == 2
    assert "needs redis_url" in missing.output


def test_a_loss_of_redis_data_is_told_to_one_process_that_knew_the_marker(
    database: Database, queue: RedisQueue, redis_url: str, redis_prefix: str, raw: redis.Redis
) -> None:
    other = RedisQueue(connect_redis(redis_url), database, prefix=redis_prefix)  # another process
    try:
        assert (queue.lost_data(), other.lost_data()) == (False, False)  # planted, then read
        assert (queue.lost_data(), other.lost_data()) == (False, False)
        # What a restart without persistence does to this deployment's keys (never FLUSHALL:
        # the test Redis is shared): the marker goes with every job.
        queue.enqueue([Job("lost-1", FANOUT_QUEUE, {})])
        raw.delete(*raw.keys(f"{redis_prefix}*"))
        assert queue.lost_data() is True  # it plants the new marker: it re-plans
        assert other.lost_data() is False  # it adopts it: one re-plan per loss
        assert (queue.lost_data(), other.lost_data()) == (False, False)
        raw.delete(f"{redis_prefix}marker")
        assert (other.lost_data(), queue.lost_data()) == (True, False)
    finally:
        other.close()
