"""Delivery jobs in-process: a real pool, the real queue and registry, an APNs simulator on a socket."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from pushgate.planner.fanout import fan_out
from pushgate.queue import JobStatus, SqlQueue
from pushgate.registry import Database, SendStatusView, cancel_send, delete_credentials
from pushgate.registry.models import utcnow
from pushgate.service.cancel import cancel_and_settle
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers.constants import DELIVERY_NAMESPACE
from pushgate.workers.delivery import delivery_id, delivery_ids
from tests.workers.worker_helpers import (
    eventually,
    make_app,
    running_pool,
    settings_for,
    start_send,
    status,
)


def test_delivery_ids_are_uuid5_of_send_and_device() -> None:
    send_id = str(uuid.uuid4())
    assert delivery_id(send_id, 42) == str(uuid.uuid5(DELIVERY_NAMESPACE, f"{send_id}:42"))
    assert delivery_id(send_id, 42) == delivery_id(send_id, 42) != delivery_id(send_id, 43)


def test_the_ids_of_one_send_are_its_uuid5s_device_after_device() -> None:
    for send_id in (str(uuid.uuid4()), "s\u00e9nd", ""):
        of = delivery_ids(send_id)
        for device_id in [*range(300), 2**40, 10**18]:  # every variant digit, long ids
            assert of(device_id) == str(uuid.uuid5(DELIVERY_NAMESPACE, f"{send_id}:{device_id}"))


async def test_a_notification_past_its_expiry_is_recorded_expired_without_a_request(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 3)
    queue = SqlQueue(database)
    ten_minutes_ago = utcnow() - timedelta(minutes=10)
    stale_ttl = start_send(database, queue, app_id, {"title": "old", "ttl": 60}, now=ten_minutes_ago)
    past = start_send(database, queue, app_id, {"title": "old", "expiration": ten_minutes_ago.isoformat()})
    async with running_pool(settings_for(database, apns, ca_file), database):
        for send_id in (stale_ttl, past):

            def done(send_id: str = send_id) -> SendStatusView | None:
                view = status(database, send_id)
                return view if view.status == "done" else None

            view = await eventually(done)
            assert (view.expired, view.sent) == (3, 0)
    assert apns.requests == 0


async def test_a_ttl_counts_from_the_send_not_from_the_attempt(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 1)
    queue = SqlQueue(database)
    created = utcnow() - timedelta(minutes=10)
    send_id = start_send(database, queue, app_id, {"title": "fresh", "ttl": 3600}, now=created)
    async with running_pool(settings_for(database, apns, ca_file), database):
        await eventually(lambda: status(database, send_id).status == "done")
    [record] = apns.accepted
    assert int(record["headers"]["apns-expiration"]) == int((created + timedelta(seconds=3600)).timestamp())


async def test_devices_of_a_provider_without_credentials_fail_with_a_reason(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 2)
    with database.session() as session:
        delete_credentials(session, app_id, "apns")
    queue = SqlQueue(database)
    send_id = start_send(database, queue, app_id, {"title": "nowhere"})
    async with running_pool(settings_for(database, apns, ca_file), database):
        view = await eventually(lambda: (v := status(database, send_id)).status == "done" and v)
    assert (view.failed, view.sent) == (2, 0)
    with database.connect(write=False) as connection:
        reasons = connection.execute(sa.text("SELECT DISTINCT reason FROM deliveries")).scalars().all()
    assert reasons == ["NoCredentials"]


async def test_a_cancelled_send_delivers_nothing(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 5)
    queue = SqlQueue(database)
    send_id = start_send(database, queue, app_id, {"title": "never"})
    with database.session() as session:
        cancel_send(session, send_id)
    async with running_pool(settings_for(database, apns, ca_file), database):
        await eventually(lambda: SqlQueue(database).depth() == 0, what="the queue drained")
    assert apns.requests == 0


async def test_a_delivery_failing_on_every_try_ends_failed_with_the_last_reason(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 1)
    apns.queue_error(500, "InternalServerError", count=100)
    queue = SqlQueue(database)
    send_id = start_send(database, queue, app_id, {"title": "doomed"})
    settings = settings_for(database, apns, ca_file, max_tries=2)
    async with running_pool(settings, database):
        view = await eventually(lambda: (v := status(database, send_id)).status == "done" and v)
    assert (view.failed, view.sent) == (1, 0)
    with database.connect(write=False) as connection:
        row = connection.execute(sa.text("SELECT reason, attempts FROM deliveries")).one()
    assert (row.reason, row.attempts) == ("InternalServerError", 2)
    assert apns.requests == 2


async def test_stopping_with_a_short_drain_hands_unfinished_jobs_back(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    slow = apns
    slow.set_latency(30.0)  # answers come long after the drain ends
    app_id, devices = make_app(database, slow, 4)
    queue = SqlQueue(database)
    send_id = start_send(database, queue, app_id, {"title": "interrupted"})
    settings = settings_for(database, slow, ca_file, lease_seconds=600)
    async with running_pool(settings, database, drain=0.2) as pool:
        # The fan-out job announces the delivery job before it ends, so both may be busy
        # for a moment; what the drain must hand back is the delivery job alone.
        await eventually(lambda: slow.requests > 0 and pool.stats()["busy"] == 1,
                         what="the delivery job alone, its requests in flight")
    jobs = [queue.get(f"{send_id}:0")]
    assert jobs[0] is not None
    assert jobs[0].status is JobStatus.QUEUED, "handed back at once, not left to a 10-minute lease"
    assert status(database, send_id).sent == 0

    slow.set_latency(0.0)
    async with running_pool(settings, database):
        view = await eventually(lambda: (v := status(database, send_id)).status == "done" and v)
    assert view.sent == len(devices)


async def test_workers_started_before_the_schema_exists_recover_once_it_does(
    empty_database_url: str, apns: APNsSimulator, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(empty_database_url)
    try:
        settings = settings_for(database, apns, ca_file)
        async with running_pool(settings, database) as pool:
            await eventually(lambda: "claiming jobs failed" in caplog.text, what="a failed claim")
            await asyncio.to_thread(database.migrate)
            app_id, devices = make_app(database, apns, 3)
            send_id = start_send(database, SqlQueue(database), app_id, {"title": "late start"})
            pool.wake()
            view = await eventually(
                lambda: (v := status(database, send_id)).status == "done" and v, within=60
            )
        assert view.sent == len(devices)
    finally:
        database.dispose()


async def test_cancelling_a_send_waiting_for_a_retry_settles_every_delivery_as_cancelled(
    database: Database, apns: APNsSimulator, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retries an hour away: only the cancel itself can bring the waiting devices to an end.
    monkeypatch.setattr("pushgate.workers.delivery.RETRY_BASE_SECONDS", 3600.0)
    app_id, _ = make_app(database, apns, 4)
    apns.queue_error(429, "TooManyRequests", count=4)
    queue = SqlQueue(database)
    send_id = start_send(database, queue, app_id, {"title": "later"})
    async with running_pool(settings_for(database, apns, ca_file), database):
        await eventually(lambda: apns.requests == 4 and queue.stats()["deliver:apns"].scheduled == 1,
                         what="the devices waiting for their retry")
        view = await asyncio.to_thread(cancel_and_settle, database, queue, send_id, app_id=app_id)
        assert view is not None
        assert view.status == "cancelled"
        view = await eventually(lambda: (v := status(database, send_id)).pending == 0 and v, within=10,
                                what="every delivery settled")
    assert (view.status, view.cancelled, view.sent, view.targeted) == ("cancelled", 4, 0, 4)
    with database.connect(write=False) as connection:
        rows = connection.execute(sa.text("SELECT DISTINCT status, reason FROM deliveries")).all()
    assert [tuple(row) for row in rows] == [("cancelled", "Cancelled")]
    assert apns.requests == 4  # nothing was sent after the cancel


async def test_a_delivery_job_claimed_after_cancel_records_its_devices_cancelled(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 3)
    queue = SqlQueue(database)
    send_id = start_send(database, queue, app_id, {"title": "never"})
    fan_out(database, queue, send_id)  # the delivery job exists before the cancel
    with database.session() as session:
        cancel_send(session, send_id)
    async with running_pool(settings_for(database, apns, ca_file), database):
        view = await eventually(lambda: (v := status(database, send_id)).pending == 0 and v, within=10)
    assert (view.status, view.targeted, view.cancelled) == ("cancelled", 3, 3)
    assert apns.requests == 0
