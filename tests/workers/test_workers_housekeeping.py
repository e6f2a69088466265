"""The worker pool's housekeeping: auth token refreshes counted, finished jobs purged, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from pushgate.queue import Job, JobStatus, SqlQueue
from pushgate.registry import Database, DeliveryStatus, Outcome, create_app, create_send, record_outcomes
from pushgate.registry.models import sends_table
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.simulators._base import ManualClock
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers.constants import KEEP_DONE_SECONDS
from pushgate.workers.pool import WorkerPool
from tests.workers.worker_helpers import eventually, make_app, running_pool, settings_for, start_send, status

T0 = 1_900_000_000.0


async def test_finished_jobs_are_purged_after_the_retention(database: Database) -> None:
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    queue.enqueue([Job(name, "q", {}) for name in ("old", "recent", "dead", "open")])
    queue.claim(["q"], limit=10, lease_seconds=7200, worker="w")
    queue.complete(["old"])
    queue.fail("dead", "BadRequest")
    clock.advance(600)
    queue.complete(["recent"])
    settings = Settings.model_validate({"database_url": database.url.render_as_string(hide_password=False)})
    pool = WorkerPool(settings, database, queue, Metrics(), count=1)  # not started: no loops, no sockets

    assert await pool.purge_finished(T0 + KEEP_DONE_SECONDS) == 0  # nothing is older than that yet
    assert await pool.purge_finished(T0 + KEEP_DONE_SECONDS + 1) == 1
    assert queue.get("old") is None
    kept = [queue.get(n) for n in ("recent", "dead", "open")]
    assert [job.status if job else None for job in kept] == [
        JobStatus.DONE, JobStatus.FAILED, JobStatus.LEASED,
    ]
    assert queue.enqueue([Job("recent", "q", {})]) == 0  # still known: a late duplicate is ignored


async def test_housekeeping_applies_the_retention_settings_and_none_keeps_everything(
    database: Database,
) -> None:
    now = datetime.fromtimestamp(T0, UTC)
    with database.session() as session:
        app_id = create_app(session, "shop")[0].id
        send = create_send(session, app_id, {"title": "t"}, {"all": True})
        record_outcomes(session, send.id, "apns", [Outcome(i, DeliveryStatus.SENT) for i in range(1, 8)])
    with database.connect() as connection:
        connection.execute(sa.update(sends_table).where(sends_table.c.id == send.id).values(
            status="done", targeted=7, finished_at=now - timedelta(days=31)))
    url = database.url.render_as_string(hide_password=False)
    keep_all = Settings.model_validate({
        "database_url": url, "deliveries_retention_days": None, "inactive_devices_retention_days": None,
        "failed_jobs_retention_days": None,
    })
    queue = SqlQueue(database)
    assert await WorkerPool(keep_all, database, queue, Metrics(), count=1).apply_retention(T0) == 0
    defaults = Settings.model_validate({"database_url": url})  # 30 days of deliveries
    assert await WorkerPool(defaults, database, queue, Metrics(), count=1).apply_retention(T0) == 7
    with database.connect(write=False) as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM deliveries")).scalar_one() == 0
        assert connection.execute(sa.text("SELECT sent FROM sends")).scalar_one() == 7


async def test_apns_tokens_are_counted_as_auth_refreshes(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    settings = settings_for(database, apns, ca_file)
    app_id, _ = make_app(database, apns, 3)
    async with running_pool(settings, database) as pool:
        send_id = start_send(database, SqlQueue(database), app_id, {"title": "hi"})
        pool.wake()
        await eventually(lambda: status(database, send_id).status == "done", what="the send done")
        metrics = pool.ctx.metrics
    # Stopping moves the clients' counters into the metric (housekeeping does it every few seconds).
    refreshes = metrics.registry.get_sample_value("pushgate_auth_token_refreshes_total", {"provider": "apns"})
    assert refreshes == 1.0  # one JWT for the three devices
