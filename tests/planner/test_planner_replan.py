"""Re-planning after the queue lost its jobs: every device still without an outcome, and no other."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pushgate.planner import fan_out
from pushgate.planner.fanout import STEP_JOBS, _advance
from pushgate.planner.replan import REPLAN_FIRST_CHUNK, replan_lost_deliveries
from pushgate.queue import SqlQueue
from pushgate.queue.tables import jobs_table
from pushgate.registry import (
    Database,
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    create_app,
    create_send,
    deactivate_dead,
    import_devices,
    record_outcomes,
    register_device,
)
from tests.planner.test_planner_fanout import delivery_jobs, device_row, targeted_ids


def lose_every_job(database: Database) -> None:
    """What a Redis restarted without persistence does to the queue (here: the SQL queue's rows)."""
    with database.connect() as connection:
        connection.execute(sa.delete(jobs_table))


def app_with_devices(database: Database, count: int) -> tuple[int, list[int]]:
    with database.session() as session:
        app, _ = create_app(session, "replan")
    import_devices(database, app.id, (device_row(i) for i in range(count)))
    with database.connect(write=False) as connection:
        ids = list(connection.execute(sa.text("SELECT id FROM devices ORDER BY id")).scalars())
    return app.id, ids


def new_send(database: Database, app_id: int, target: dict[str, Any]) -> str:
    with database.session() as session:
        return create_send(session, app_id, {"title": "again"}, target).id


def test_a_sending_broadcast_gets_jobs_for_exactly_its_unrecorded_devices(database: Database) -> None:
    queue = SqlQueue(database)
    app_id, ids = app_with_devices(database, 60)
    send_id = new_send(database, app_id, {"all": True})
    fan_out(database, queue, send_id, chunk_size=10)
    lose_every_job(database)
    with database.session() as session:
        record_outcomes(session, send_id, "apns", [Outcome(ids[0], DeliveryStatus.SENT, message_id="m")])
        record_outcomes(session, send_id, "fcm", [Outcome(ids[4], DeliveryStatus.SENT, message_id="m")])
        register_device(session, app_id, DeviceSpec("apns", "f" * 64))  # after the send: not targeted
        deactivate_dead(session, app_id, "fcm", device_row(5)["token"])  # left the audience

    result = replan_lost_deliveries(database, queue, chunk_size=10, max_tries=5)

    jobs = delivery_jobs(database)
    replanned = targeted_ids(jobs)
    assert sorted(replanned) == sorted(set(ids) - {ids[0], ids[4], ids[5]})
    assert all(int(job["id"].rsplit(":", 1)[1]) >= REPLAN_FIRST_CHUNK for job in jobs)
    assert all(job["size"] <= 10 for job in jobs)
    assert (result.sends, result.devices, result.unfound, result.skipped) == (1, 57, 1, 0)
    # Told once per loss; a second call (no new loss) would enqueue the same ids: nothing new.
    replan_lost_deliveries(database, queue, chunk_size=10, max_tries=5)
    assert len(delivery_jobs(database)) == len(jobs)


def test_a_send_still_fanning_out_gets_only_what_its_fan_out_had_walked(database: Database) -> None:
    queue = SqlQueue(database)
    app_id, ids = app_with_devices(database, 200)
    send_id = new_send(database, app_id, {"all": True})
    # Two steps walked (STEP_JOBS jobs of 5 APNs devices, then the other 30 APNs devices, whose
    # jobs are the state's pending ones), then every job was lost.
    first = _advance(database, send_id, 0, 5, 5, step_jobs=STEP_JOBS)
    second = _advance(database, send_id, first.chunks, 5, 5, step_jobs=STEP_JOBS)
    lose_every_job(database)
    apns = [ids[n] for n in range(200) if device_row(n)["provider"] == "apns"]
    assert [d for d, _ in first.batch] == apns[:50]
    assert [d for d, _ in second.batch] == apns[50:]

    result = replan_lost_deliveries(database, queue, chunk_size=5, max_tries=5)

    replanned = set(targeted_ids(delivery_jobs(database)))
    # The first step's devices (their jobs were lost), not the second's: the fan-out job
    # re-enqueues its state's pending jobs itself when it runs again.
    assert replanned == set(apns[:50])
    assert result.unfound == 0
