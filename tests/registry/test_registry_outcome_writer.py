"""The sender's outcome writer: the same rows and counters as record_outcomes, on one
driver connection that a failure discards."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from pushgate.registry import (
    Database,
    DeadToken,
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    create_app,
    create_send,
    get_send_status,
    list_deliveries,
    register_device,
)
from pushgate.registry.outcome_writer import OutcomeWriter
from tests.registry.test_registry_sends import NOTE, start_sending


@pytest.fixture
def app_id(database: Database) -> int:
    with database.session() as session:
        app, _ = create_app(session, "shop")
    return app.id


def test_writes_rows_and_counters_once_and_finishes_the_send(database: Database, app_id: int) -> None:
    with database.session() as session:
        send = create_send(session, app_id, NOTE, {"all": True})
    start_sending(database, send.id, targeted=5)
    writer = OutcomeWriter(database)
    first = [
        Outcome(1, DeliveryStatus.SENT, message_id="m1"),
        Outcome(2, DeliveryStatus.DEAD, reason="Unregistered"),
        Outcome(2, DeliveryStatus.SENT),  # the same device twice: the first wins
    ]
    writer.write({(send.id, "apns"): first})
    writer.write({(send.id, "apns"): first})  # a re-run after a crash: nothing new
    with database.session() as session:
        status = get_send_status(session, send.id)
    assert status is not None
    assert (status.sent, status.dead, status.pending, status.status) == (1, 1, 3, "sending")
    writer.write({(send.id, "fcm"): [
        Outcome(1, DeliveryStatus.FAILED),  # recorded already: ignored
        Outcome(3, DeliveryStatus.FAILED, reason="BadTopic"),
        Outcome(4, DeliveryStatus.EXPIRED),
        Outcome(5, DeliveryStatus.SENT, message_id="m5", attempts=3),
    ]})
    writer.close()
    with database.session() as session:
        status = get_send_status(session, send.id)
        rows = list_deliveries(session, send.id, limit=10).items
    assert status is not None
    assert (status.targeted, status.sent, status.failed, status.dead, status.expired) == (5, 2, 1, 1, 1)
    assert (status.pending, status.status) == (0, "done")
    assert status.finished_at is not None
    by_device = {row.device_id: (row.status, row.reason, row.message_id, row.attempts) for row in rows}
    assert by_device == {
        1: ("sent", None, "m1", 1), 2: ("dead", "Unregistered", None, 1), 3: ("failed", "BadTopic", None, 1),
        4: ("expired", None, None, 1), 5: ("sent", None, "m5", 3),
    }


def test_dead_tokens_also_deactivate_their_devices(database: Database, app_id: int) -> None:
    with database.session() as session:
        device = register_device(session, app_id, DeviceSpec("fcm", f"fcm-token-{1:030d}"))
        send = create_send(session, app_id, NOTE, {"all": True})
    start_sending(database, send.id, targeted=1)
    writer = OutcomeWriter(database)
    writer.write(
        {(send.id, "fcm"): [Outcome(device.id, DeliveryStatus.DEAD, reason="UNREGISTERED")]},
        [DeadToken(device.id, "UNREGISTERED")],
    )
    writer.close()
    with database.session() as session:
        status = get_send_status(session, send.id)
        active = session.execute(sa.text("SELECT active FROM devices WHERE id = :id"), {"id": device.id})
        assert active.scalar_one() in (False, 0)
    assert status is not None
    assert (status.dead, status.status) == (1, "done")


def test_a_failed_write_discards_the_connection_and_the_next_one_works(
    database: Database, app_id: int
) -> None:
    with database.session() as session:
        send = create_send(session, app_id, NOTE, {"all": True})
    start_sending(database, send.id, targeted=2)
    if database.is_sqlite:
        writer_db = Database(database.url, busy_timeout=0.05)
        writer = OutcomeWriter(writer_db)
        writer.write({(send.id, "apns"): [Outcome(1, DeliveryStatus.SENT)]})
        blocker = sqlite3.connect(database.url.database or "", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            writer.write({(send.id, "apns"): [Outcome(2, DeliveryStatus.SENT)]})
        blocker.execute("ROLLBACK")
        blocker.close()
    else:
        writer_db = database
        writer = OutcomeWriter(writer_db)
        writer.write({(send.id, "apns"): [Outcome(1, DeliveryStatus.SENT)]})
        with database.connect() as connection:  # the server drops the writer's connection
            connection.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ))
        with pytest.raises(Exception, match=r"terminat|closed|connection"):
            writer.write({(send.id, "apns"): [Outcome(2, DeliveryStatus.SENT)]})
    writer.write({(send.id, "apns"): [Outcome(2, DeliveryStatus.SENT)]})  # a new connection
    writer.close()
    with database.session() as session:
        status = get_send_status(session, send.id)
    assert status is not None
    assert (status.sent, status.status) == (2, "done")
    if writer_db is not database:
        writer_db.dispose()


def test_concurrent_batches_lock_their_sends_in_one_order(database: Database, app_id: int) -> None:
    """Two writers whose batches hold the same two sends in opposite orders, as two workers'
    batches do when several sends drain at once: both commit, neither is aborted as a deadlock."""
    if database.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no row locks to order")
    with database.session() as session:
        ids = sorted(create_send(session, app_id, NOTE, {"all": True}).id for _ in range(2))
    for send_id in ids:
        start_sending(database, send_id, targeted=2)
    first, second = ids
    holder = database.engine.connect()
    holder.execute(sa.text("SELECT 1 FROM sends WHERE id = :id FOR UPDATE"), {"id": first})
    errors: list[BaseException] = []

    def write(order: list[str], device_id: int) -> None:
        writer = OutcomeWriter(database)
        try:
            writer.write({(send_id, "apns"): [Outcome(device_id, DeliveryStatus.SENT)] for send_id in order})
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            writer.close()

    def waiting_on_locks(count: int) -> None:
        deadline = time.monotonic() + 30
        query = sa.text("SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'")
        while True:
            with database.connect(write=False) as connection:
                if connection.execute(query).scalar_one() >= count:
                    return
            assert time.monotonic() < deadline, f"fewer than {count} writers waited on a lock"
            time.sleep(0.01)

    ahead = threading.Thread(target=write, args=([first, second], 1))
    ahead.start()
    waiting_on_locks(1)  # it waits for the first send's row
    behind = threading.Thread(target=write, args=([second, first], 2))
    behind.start()
    # Taken in the batch's order, it would lock the second send and wait for the first; once
    # the holder lets go, the writer ahead would wait for the second: a deadlock.
    waiting_on_locks(2)
    holder.rollback()
    holder.close()
    for thread in (ahead, behind):
        thread.join(60)
    assert not errors, errors
    with database.session() as session:
        for send_id in ids:
            status = get_send_status(session, send_id)
            assert status is not None
            assert (status.sent, status.status) == (2, "done")
