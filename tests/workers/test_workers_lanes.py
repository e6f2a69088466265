"""Lanes: a send to named devices or users is claimed before a broadcast's backlog.

Claims go by tier — fan-out and the direct lanes first, the broadcast lanes
with the slots left — on the real queue, and in a running pool against the
APNs simulator.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pushgate.notification import Notification
from pushgate.planner import FANOUT_QUEUE, deliver_queue, fan_out
from pushgate.planner.fanout import enqueue_fanout
from pushgate.planner.jobs import EVENTS_QUEUE, TOPICS_QUEUE, WEBHOOKS_QUEUE
from pushgate.queue import ClaimedJob, ClaimTier, Job, JobStatus, SqlQueue
from pushgate.registry import Database, create_send
from pushgate.service import submit_send
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.simulators._base import ManualClock
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers import sender
from pushgate.workers.pool import WorkerPool
from pushgate.workers.sender import ALL_QUEUES, claim_by_tier, claim_tiers
from tests.workers.worker_helpers import eventually, make_app, running_pool, settings_for, start_send, status

T0 = 1_800_000_000.0


def test_claim_tiers_put_fan_out_and_direct_lanes_first() -> None:
    first, short, rest = claim_tiers(ALL_QUEUES)
    providers = ("apns", "fcm", "webpush", "wns")
    # Topic subscription operations and event batches make or are short work: claimed with
    # fan-out and the direct lanes, which may also take the reserved slots.
    assert first == (FANOUT_QUEUE, TOPICS_QUEUE, EVENTS_QUEUE,
                     *(deliver_queue(p, direct=True) for p in providers))
    # Webhook drains (one job per webhook at a time) come next, without reserved slots: a
    # slow endpoint must not hold them.
    assert short == (WEBHOOKS_QUEUE,)
    assert rest == tuple(deliver_queue(p) for p in providers)
    assert claim_tiers((deliver_queue("fcm"),)) == ((deliver_queue("fcm"),),)


def test_a_later_direct_job_is_claimed_before_an_earlier_broadcast_backlog(database: Database) -> None:
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job(f"b{i}", deliver_queue("apns"), {}, run_at=T0 - 60 + i) for i in range(3)])
    queue.enqueue([Job("d0", deliver_queue("fcm", direct=True), {}, run_at=T0 - 1)])
    tiers = claim_tiers(ALL_QUEUES)

    def claim(limit: int) -> list[str]:
        return [job.id for job in claim_by_tier(queue, tiers, limit=limit, lease_seconds=60, worker="w")]

    assert claim(1) == ["d0"]
    assert claim(2) == ["b0", "b1"]  # nothing direct left: the broadcast lane, oldest first
    queue.enqueue([Job("d1", deliver_queue("apns", direct=True), {}), Job("f0", FANOUT_QUEUE, {})])
    assert sorted(claim(5)) == ["b2", "d1", "f0"]


def test_reserved_slots_take_only_direct_work(database: Database) -> None:
    """With every ordinary slot taken by a broadcast, a worker's reserved slots still claim
    fan-out and direct-lane jobs, and never a broadcast job or a webhook drain."""
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job(f"b{i}", deliver_queue("apns"), {}, run_at=T0 - 60 + i) for i in range(3)])
    queue.enqueue([Job("w0", WEBHOOKS_QUEUE, {}, run_at=T0 - 30)])
    tiers = claim_tiers(ALL_QUEUES)

    def claim(limit: int, reserved: int) -> list[str]:
        return [job.id for job in claim_by_tier(queue, tiers, limit=limit, reserved=reserved,
                                                lease_seconds=60, worker="w")]

    assert claim(0, 2) == []  # ordinary slots full: neither the broadcast nor the webhook
    queue.enqueue([Job("d0", deliver_queue("fcm", direct=True), {}, run_at=T0 - 3),
                   Job("f0", FANOUT_QUEUE, {}, run_at=T0 - 2),
                   Job("d1", deliver_queue("apns", direct=True), {}, run_at=T0 - 1)])
    assert sorted(claim(0, 2)) == ["d0", "f0"]  # two reserved slots: two of the three
    # One ordinary and one reserved slot: the direct job takes the reserved one, the webhook
    # drain (claimed before broadcasts) the ordinary one.
    assert claim(1, 1) == ["d1", "w0"]
    assert claim(1, 1) == ["b0"]


def test_direct_slots_take_only_direct_lane_deliveries(database: Database) -> None:
    """With the ordinary and reserved slots full, the direct-lane slots still claim login codes,
    and never a fan-out or a broadcast job; with room left, the tiers claim as before."""
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job(f"b{i}", deliver_queue("apns"), {}, run_at=T0 - 60 + i) for i in range(2)])
    queue.enqueue([Job("f0", FANOUT_QUEUE, {}, run_at=T0 - 5)])
    queue.enqueue([Job(f"d{i}", deliver_queue("apns", direct=True), {}, run_at=T0 - 4 + i) for i in range(3)])
    tiers = claim_tiers(ALL_QUEUES)

    def claim(limit: int, reserved: int, direct: int) -> list[str]:
        return [job.id for job in claim_by_tier(queue, tiers, limit=limit, reserved=reserved, direct=direct,
                                                lease_seconds=60, worker="w")]

    assert claim(0, 0, 2) == ["d0", "d1"]  # every other slot busy: direct lanes only
    assert claim(0, 1, 2) == ["f0", "d2"]  # a reserved slot: first tier by due time, then the lanes
    assert claim(0, 0, 2) == []
    assert claim(1, 0, 2) == ["b0"]


async def test_a_direct_send_overtakes_a_broadcast_already_queued(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, devices = make_app(database, apns, 60)
    queue = SqlQueue(database)
    with database.session() as session:
        broadcast = create_send(session, app_id, {"title": "to everyone"}, {"all": True}).id
        direct = create_send(session, app_id, {"title": "your code"}, {"tokens": [devices[-1][1]]}).id
    fan_out(database, queue, broadcast, chunk_size=10)  # six jobs, due first
    fan_out(database, queue, direct, chunk_size=10)
    apns.set_latency(0.05)
    settings = settings_for(database, apns, ca_file, chunk_size=10, worker_concurrency=10)
    async with running_pool(settings, database):
        await eventually(lambda: status(database, broadcast).status == "done", what="the broadcast done")
    assert status(database, direct).sent == 1
    order = [record["token"] for record in apns.accepted]
    assert len(order) == 61
    # Claimed with the first free slot, not after the six broadcast jobs queued before it.
    assert order.index(devices[-1][1]) < 20


def slow_broadcast(
    database: Database, apns: APNsSimulator, ca_file: Path, *, latency: float
) -> tuple[int, list[tuple[int, str]], SqlQueue, str, Settings]:
    """An app of 101 devices and its broadcast fanned out in jobs of 50, 50 and 1 devices,
    an APNs that answers after ``latency`` seconds, and settings giving a worker two
    ordinary slots with one request open per job."""
    app_id, devices = make_app(database, apns, 101)
    queue = SqlQueue(database)
    with database.session() as session:
        broadcast = create_send(session, app_id, {"title": "to everyone"}, {"all": True}).id
    fan_out(database, queue, broadcast, chunk_size=50)
    apns.set_latency(latency)
    settings = settings_for(database, apns, ca_file, chunk_size=50, worker_concurrency=2)
    return app_id, devices, queue, broadcast, settings


async def test_a_direct_send_does_not_wait_for_running_broadcast_jobs(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    """Both ordinary slots busy with a slow broadcast: a direct send made meanwhile runs in a
    reserved slot (its fan-out, then its delivery) instead of waiting for a job to end."""
    # One request open per job (2 ordinary slots): each broadcast job takes 2.5 s.
    app_id, devices, queue, broadcast, settings = slow_broadcast(database, apns, ca_file, latency=0.05)
    async with running_pool(settings, database):
        await eventually(lambda: len(apns.accepted) >= 3, what="the broadcast under way")
        with database.session() as session:
            direct = create_send(session, app_id, {"title": "your code"}, {"tokens": [devices[-1][1]]}).id
        enqueue_fanout(queue, direct)
        await eventually(lambda: status(database, direct).sent == 1, what="the direct send delivered")
        sent_before = len(apns.accepted)
        await eventually(lambda: status(database, broadcast).status == "done", what="the broadcast done")
    # Both broadcast jobs were still running (100 devices at 20 a second): the direct send
    # did not wait for either to end.
    assert sent_before < 60, sent_before


async def test_a_direct_send_accepted_with_its_delivery_job_is_read_at_its_claim_and_delivered(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    """The API stores a short list's delivery job with the send (planner.fan_out_now); the
    claiming thread reads that small direct job's send and devices before the claim returns,
    and a broadcast job is left to read its own."""
    app_id, devices = make_app(database, apns, 21)
    settings = settings_for(database, apns, ca_file, chunk_size=10)
    queue = SqlQueue(database)
    broadcast = start_send(database, queue, app_id, {"title": "to everyone"})
    fan_out(database, queue, broadcast, chunk_size=10)
    queue.complete([f"fanout:{broadcast}"])
    direct = submit_send(database, queue, settings, app_id, Notification(title="Your code"),
                         {"tokens": [devices[-1][1]]}).response["id"]
    pool = WorkerPool(settings, database, queue, Metrics(), count=1)
    claimed = pool.workers[0]._claim(1, 1)  # one ordinary slot, one reserved
    loaded = {job.id: found for job, found in claimed}
    assert set(loaded) == {f"{direct}:0", f"{broadcast}:0"}
    preloaded = loaded[f"{direct}:0"]
    assert preloaded is not None
    info, rows = preloaded
    assert info is not None
    assert [row.id for row in rows] == [devices[-1][0]]
    assert loaded[f"{broadcast}:0"] is None
    for job, _ in claimed:  # hand them back: the running pool below claims them again
        queue.retry(job.id, reason="test")
    async with running_pool(settings, database):
        await eventually(lambda: status(database, broadcast).status == "done", what="the broadcast done")
        await eventually(lambda: status(database, direct).status == "done", what="the direct send done")
    assert status(database, direct).sent == 1
    # Every device got the broadcast, and the last one the direct send too.
    expected = sorted([token for _, token in devices] + [devices[-1][1]])
    assert sorted(record["token"] for record in apns.accepted) == expected


async def test_a_direct_send_made_by_another_process_is_claimed_while_broadcast_jobs_run(
    database: Database, apns: APNsSimulator, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ordinary slot busy with a slow broadcast, and a direct send accepted by another
    process (an API-only ``pushgate serve``): nothing wakes this worker, no broadcast job
    ends, and no idle timer runs out (it is set to two minutes); the worker's look at the
    reserved queues (workers/sender.py, RESERVED_LOOK) still finds the send and delivers it."""
    monkeypatch.setattr(sender, "IDLE_MAX", 120.0)
    # Two ordinary slots, one request open per job: each broadcast job takes 25 s.
    app_id, devices, queue, broadcast, settings = slow_broadcast(database, apns, ca_file, latency=0.5)
    async with running_pool(settings, database):
        await eventually(lambda: len(apns.accepted) >= 2, what="the broadcast under way")
        # Through a queue of its own, as another process would: the pool is not woken.
        direct = submit_send(database, SqlQueue(database), settings, app_id, Notification(title="Your code"),
                             {"tokens": [devices[-1][1]]}).response["id"]
        await eventually(lambda: status(database, direct).sent == 1, what="the direct send delivered")
        running = [queue.get(f"{broadcast}:{n}") for n in (0, 1)]
        apns.set_latency(0)
        await eventually(lambda: status(database, broadcast).status == "done", what="the broadcast done")
    assert [info.status if info else None for info in running] == [JobStatus.LEASED, JobStatus.LEASED]


async def test_claims_and_outcome_writes_do_not_queue_behind_the_default_executor(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    """Every thread of the event loop's default executor is busy (in a real worker: the reads
    of a broadcast's starting jobs, a fan-out): a direct send is still claimed (on the claim
    thread, which also reads its devices) and its outcome written (on the outcome thread)."""
    app_id, devices = make_app(database, apns, 2)
    settings = settings_for(database, apns, ca_file)
    warm = submit_send(database, SqlQueue(database), settings, app_id, Notification(title="warm-up"),
                       {"tokens": [devices[0][1]]}).response["id"]
    loop = asyncio.get_running_loop()
    release = threading.Event()
    async with running_pool(settings, database) as pool:
        await eventually(lambda: status(database, warm).sent == 1, what="the warm-up delivered")
        # More blockers than the default executor has threads: every one of them is taken.
        blockers = [loop.run_in_executor(None, release.wait, 60.0) for _ in range(40)]
        try:
            direct = submit_send(database, SqlQueue(database), settings, app_id,
                                 Notification(title="Your code"), {"tokens": [devices[1][1]]}).response["id"]
            pool.wake()
            deadline = time.monotonic() + 30
            while status(database, direct).sent != 1:  # read here: the default executor is taken
                assert time.monotonic() < deadline, "the direct send was not delivered"
                await asyncio.sleep(0.02)
        finally:
            release.set()
            await asyncio.gather(*blockers)


class WatchedQueue(SqlQueue):
    """The pool's queue, telling when a claim came back empty: the worker is idle from then."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.came_back_empty = threading.Event()

    def claim_tiers(self, tiers: Sequence[ClaimTier], **options: Any) -> list[ClaimedJob]:
        jobs = super().claim_tiers(tiers, **options)
        if not jobs:
            self.came_back_empty.set()
        return jobs


async def test_an_idle_worker_finds_a_send_made_by_another_process(
    database: Database, apns: APNsSimulator, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle worker looks for work with reads of the queue (RESERVED_LOOK's sibling,
    IDLE_LOOK) rather than waiting out its backoff, here set to a minute and more."""
    monkeypatch.setattr(sender, "IDLE_MIN", 60.0)
    monkeypatch.setattr(sender, "IDLE_MAX", 120.0)
    app_id, devices = make_app(database, apns, 1)
    settings = settings_for(database, apns, ca_file)
    queue = WatchedQueue(database)
    pool = WorkerPool(settings, database, queue, Metrics(), count=1)
    await pool.start()
    try:
        await eventually(queue.came_back_empty.is_set, what="the worker idle")
        # Through a queue of its own, as another process would: the pool is not woken.
        direct = submit_send(database, SqlQueue(database), settings, app_id, Notification(title="Your code"),
                             {"tokens": [devices[0][1]]}).response["id"]
        await eventually(lambda: status(database, direct).sent == 1, what="the direct send delivered")
    finally:
        await pool.stop()
