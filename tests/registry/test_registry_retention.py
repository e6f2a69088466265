"""Retention: old deliveries of finished sends and long-inactive devices go, in batches;
counters, recent rows, unfinished sends and active devices stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from pushgate.registry import (
    Database,
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    SendStatus,
    create_app,
    create_send,
    get_send_status,
    record_outcomes,
    register_device,
)
from pushgate.registry.models import devices_table, sends_table
from pushgate.registry.retention import prune_inactive_devices, purge_deliveries

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


def _finished_send(db: Database, app_id: int, *, devices: int, finished: datetime | None, status: str) -> str:
    with db.session() as session:
        send = create_send(session, app_id, {"title": "t"}, {"all": True})
        outcomes = [Outcome(i, DeliveryStatus.SENT) for i in range(1, devices + 1)]
        record_outcomes(session, send.id, "apns", outcomes, now=finished or NOW)
    with db.connect() as connection:
        connection.execute(sa.update(sends_table).where(sends_table.c.id == send.id).values(
            status=status, targeted=devices, finished_at=finished))
    return send.id


def _rows(db: Database, send_id: str) -> int:
    with db.connect(write=False) as connection:
        return int(connection.execute(
            sa.text("SELECT count(*) FROM deliveries WHERE send_id = :id"), {"id": send_id}
        ).scalar_one())


def test_deliveries_of_sends_finished_before_the_cutoff_go_in_batches_and_counters_stay(
    database: Database,
) -> None:
    with database.session() as session:
        app_id = create_app(session, "shop")[0].id
    old = _finished_send(database, app_id, devices=12, finished=NOW - timedelta(days=40), status="done")
    cancelled = _finished_send(database, app_id, devices=3, finished=NOW - timedelta(days=35),
                               status=SendStatus.CANCELLED.value)
    recent = _finished_send(database, app_id, devices=4, finished=NOW - timedelta(days=2), status="done")
    sending = _finished_send(database, app_id, devices=5, finished=None, status=SendStatus.SENDING.value)
    cutoff = NOW - timedelta(days=30)

    deleted = [purge_deliveries(database, finished_before=cutoff, batch=5) for _ in range(6)]
    assert deleted == [5, 5, 2, 3, 0, 0]  # the oldest send first, one send per call
    assert [_rows(database, s) for s in (old, cancelled, recent, sending)] == [0, 0, 4, 5]
    with database.session(write=False) as session:
        status = get_send_status(session, old)
    assert status is not None
    assert (status.status, status.sent, status.targeted, status.pending) == ("done", 12, 12, 0)


def test_devices_inactive_since_before_the_cutoff_are_pruned_with_their_tags(database: Database) -> None:
    with database.session() as session:
        app_id = create_app(session, "shop")[0].id
        devices = [
            register_device(session, app_id, DeviceSpec("fcm", f"fcm-token-{n:030d}", tags=["vip"]))
            for n in range(4)
        ]
    ids = [device.id for device in devices]
    changes = [  # (active, last change)
        (False, NOW - timedelta(days=100)),  # dead long ago: pruned
        (False, NOW - timedelta(days=100)),  # pruned too
        (False, NOW - timedelta(days=10)),  # dead recently: kept
        (True, NOW - timedelta(days=400)),  # active, however old: kept
    ]
    with database.connect() as connection:
        for device_id, (active, changed) in zip(ids, changes, strict=True):
            connection.execute(sa.update(devices_table).where(devices_table.c.id == device_id)
                               .values(active=active, updated_at=changed))
    cutoff = NOW - timedelta(days=90)
    assert [prune_inactive_devices(database, inactive_before=cutoff, batch=1) for _ in range(3)] == [1, 1, 0]
    with database.connect(write=False) as connection:
        left = set(connection.execute(sa.text("SELECT id FROM devices")).scalars())
        tagged = set(connection.execute(sa.text("SELECT device_id FROM device_tags")).scalars())
    assert left == set(ids[2:])
    assert tagged == set(ids[2:])
