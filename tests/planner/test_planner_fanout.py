"""Fan-out: targets → devices in chunks → delivery jobs; idempotent, resumable, exact counts."""

from __future__ import annotations

import base64
import math
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pushgate.planner import (
    FANOUT_QUEUE,
    DeliveryPayload,
    count_audience,
    deliver_queue,
    enqueue_fanout,
    fan_out,
    fanout_job,
    resume_fanouts,
)
from pushgate.planner.fanout import SQLITE_STEP_PAUSE
from pushgate.queue import Job, JobStatus, SqlQueue
from pushgate.queue.tables import jobs_table
from pushgate.registry import (
    Database,
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    Target,
    cancel_send,
    chunks,
    create_app,
    create_send,
    deactivate_dead,
    delete_device,
    fanout_queries,
    get_send_status,
    import_devices,
    opt_out,
    record_outcomes,
    register_device,
    upsert_user,
)
from pushgate.registry.chunks import DeviceRow, load_chunk
from pushgate.simulators._base import ManualClock
from tests.pg_plans import rows_read

T0 = 1_900_000_000.0


def load(database: Database, payload: dict[str, Any]) -> list[DeviceRow]:
    """The devices a worker would load for a delivery job's payload."""
    chunk = DeliveryPayload.from_json(payload)
    return load_chunk(database, chunk.send_id, chunk.provider, chunk.device_ids)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


P256DH = b64url(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    Encoding.X962, PublicFormat.UncompressedPoint
))
AUTH = b64url(os.urandom(16))


def device_row(i: int) -> dict[str, Any]:
    """10 devices in 10: 4 APNs, 4 FCM, 1 Web Push, 1 WNS; user u<i % 100>."""
    kind = i % 10
    row: dict[str, Any] = {"user": f"u{i % 100}", "tags": ["even" if i % 2 == 0 else "odd"]}
    if kind < 4:
        row.update(provider="apns", token=f"{i:064x}", platform="ios")
    elif kind < 8:
        row.update(provider="fcm", token=f"fcm-token-{i:030d}", platform="android")
    elif kind == 8:
        row.update(provider="webpush", token=f"https://fcm.googleapis.com/fcm/send/{i}", p256dh=P256DH,
                   auth=AUTH, platform="web")
    else:
        row.update(provider="wns", token=f"https://db5.notify.windows.com/?token={i}", platform="windows")
    return row


@pytest.fixture
def queue(database: Database) -> SqlQueue:
    return SqlQueue(database, clock=ManualClock(T0))


@pytest.fixture
def app_id(database: Database) -> int:
    with database.session() as session:
        app, _ = create_app(session, "shop")
    return app.id


def new_send(database: Database, app_id: int, target: dict[str, Any], **kwargs: Any) -> str:
    with database.session() as session:
        return create_send(session, app_id, {"title": "Hello"}, target, **kwargs).id


def delivery_jobs(database: Database) -> list[dict[str, Any]]:
    with database.connect(write=False) as connection:
        rows = connection.execute(
            jobs_table.select().where(jobs_table.c.queue.like("deliver:%")).order_by(jobs_table.c.id)
        ).all()
    return [dict(row._mapping) for row in rows]


def targeted_ids(jobs: Sequence[dict[str, Any]]) -> list[int]:
    return [device_id for job in jobs for device_id in job["payload"]["device_ids"]]


class CrashingQueue(SqlQueue):
    """A queue whose process 'dies' (raises) on the n-th enqueue call, before storing anything."""

    def __init__(self, db: Database, crash_on: int) -> None:
        super().__init__(db, clock=ManualClock(T0))
        self.calls = 0
        self.crash_on = crash_on

    def enqueue(self, jobs: Sequence[Job]) -> int:
        self.calls += 1
        if self.calls == self.crash_on:
            raise RuntimeError("killed")
        return super().enqueue(jobs)


def test_fan_out_10000_devices_in_chunks(database: Database, queue: SqlQueue, app_id: int) -> None:
    result = import_devices(database, app_id, (device_row(i) for i in range(10_000)))
    assert (result.created, result.errors) == (10_000, [])
    with database.session() as session:
        opt_out(session, app_id, "u1")
        opt_out(session, app_id, "u2")
        opt_out(session, app_id, "u3", "promo")  # another topic: still gets this send
    send_id = new_send(database, app_id, {"all": True})

    outcome = fan_out(database, queue, send_id, chunk_size=500)

    per_provider = {"apns": 4000, "fcm": 4000, "webpush": 1000, "wns": 1000}
    skipped = {"apns": 200, "fcm": 0, "webpush": 0, "wns": 0}  # u1, u2: i ≡ 1, 2 (mod 100), all APNs
    expected_jobs = sum(math.ceil((per_provider[p] - skipped[p]) / 500) for p in per_provider)
    assert (outcome.targeted, outcome.jobs, outcome.status) == (9_800, expected_jobs, "sending")
    jobs = delivery_jobs(database)
    assert len(jobs) == expected_jobs
    ids = targeted_ids(jobs)
    assert len(ids) == len(set(ids)) == 9_800
    for job in jobs:
        payload = job["payload"]
        assert job["queue"] == deliver_queue(payload["provider"])
        assert job["id"].startswith(f"{send_id}:")
        assert 1 <= len(payload["device_ids"]) <= 500
        assert job["size"] == len(payload["device_ids"])
        assert payload["app_id"] == app_id
    with database.session(write=False) as session:
        status = get_send_status(session, send_id)
    assert status is not None
    assert (status.targeted, status.pending, status.status) == (9_800, 9_800, "sending")
    assert queue.depth() == 9_800

    again = fan_out(database, queue, send_id, chunk_size=500)  # re-run after it finished
    assert (again.jobs, again.targeted) == (0, 0)
    assert len(delivery_jobs(database)) == expected_jobs


def test_each_steps_new_jobs_are_announced_as_they_are_enqueued(
    database: Database, queue: SqlQueue, app_id: int
) -> None:
    """Workers can start on the first jobs while the fan-out walks on."""
    import_devices(database, app_id, (device_row(i) for i in range(1_000)))
    send_id = new_send(database, app_id, {"all": True})
    announced: list[tuple[int, int]] = []  # (jobs announced, jobs in the queue by then)

    def on_enqueued(count: int) -> None:
        announced.append((count, len(delivery_jobs(database))))

    result = fan_out(database, queue, send_id, chunk_size=100, step_jobs=3, on_enqueued=on_enqueued)

    # 400 APNs and 400 FCM devices in steps of 300, 100 Web Push and 100 WNS devices.
    assert result.jobs == 10
    assert [count for count, _ in announced] == [3, 1, 3, 1, 1, 1]
    assert [queued for _, queued in announced] == [3, 4, 7, 8, 9, 10]  # announced once stored
    assert fan_out(database, queue, send_id, on_enqueued=on_enqueued).jobs == 0  # nothing new
    assert len(announced) == 6


def test_on_sqlite_a_fan_out_stands_aside_after_each_step(
    database: Database, queue: SqlQueue, app_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's one write lock would go back to the fan-out a few microseconds after each
    commit; a pause after each step lets the writers that wait for it in (a login code's).
    PostgreSQL locks rows, and nobody waits for the fan-out there."""
    pauses: list[float] = []
    monkeypatch.setattr("pushgate.planner.fanout.sleep", pauses.append)
    import_devices(database, app_id, (device_row(i) for i in range(1_000)))
    send_id = new_send(database, app_id, {"all": True})
    fan_out(database, queue, send_id, chunk_size=100, step_jobs=3)
    # Six steps with devices (400 APNs and 400 FCM devices in steps of 300, then the 100 Web
    # Push and the 100 WNS devices), then the one that finds none.
    assert pauses == ([SQLITE_STEP_PAUSE] * 6 if database.is_sqlite else [])


@pytest.mark.parametrize(("crash_on", "step_jobs"), [(1, 1), (2, 1), (5, 1), (2, 3)])
def test_a_crashed_fan_out_resumes_without_duplicates(
    database: Database, queue: SqlQueue, app_id: int, crash_on: int, step_jobs: int
) -> None:
    import_devices(database, app_id, (device_row(i) for i in range(1_000)))
    send_id = new_send(database, app_id, {"all": True})
    with pytest.raises(RuntimeError, match="killed"):
        fan_out(database, CrashingQueue(database, crash_on), send_id, chunk_size=100, step_jobs=step_jobs)
    resumed = fan_out(database, queue, send_id, chunk_size=100)
    assert resumed.status == "sending"
    ids = targeted_ids(delivery_jobs(database))
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == 1_000
    with database.session(write=False) as session:
        status = get_send_status(session, send_id)
    assert status is not None
    assert status.targeted == 1_000


def test_a_run_dying_between_another_runs_steps_loses_nothing(
    database: Database, queue: SqlQueue, app_id: int
) -> None:
    """Run X stores a batch and dies before enqueuing it while run Y is mid-way."""
    from pushgate.planner import fanout

    import_devices(database, app_id, (device_row(i) for i in range(300)))
    send_id = new_send(database, app_id, {"all": True})

    class Interleaved(SqlQueue):
        calls = 0

        def enqueue(self, jobs: Sequence[Job]) -> int:
            Interleaved.calls += 1
            stored = super().enqueue(jobs)
            if Interleaved.calls == 1:  # X takes the next batch right after Y's first one
                with database.connect(write=False) as connection:
                    from pushgate.registry.models import sends_table

                    state = connection.execute(
                        sends_table.select().where(sends_table.c.id == send_id)
                    ).one().fanout_state
                fanout._advance(database, send_id, state["chunks"], 50, 10)  # ... and dies
            return stored

    fan_out(database, Interleaved(database, clock=ManualClock(T0)), send_id, chunk_size=50, step_jobs=1)
    ids = targeted_ids(delivery_jobs(database))
    assert len(ids) == len(set(ids)) == 300
    with database.session(write=False) as session:
        got = get_send_status(session, send_id)
        assert got is not None
        assert got.targeted == 300


def test_two_overlapping_runs_count_each_device_once(database: Database, app_id: int) -> None:
    import_devices(database, app_id, (device_row(i) for i in range(2_000)))
    send_id = new_send(database, app_id, {"all": True})
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fan_out(database, SqlQueue(database), send_id, chunk_size=50, step_jobs=1)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = targeted_ids(delivery_jobs(database))
    assert len(ids) == len(set(ids)) == 2_000
    with database.session(write=False) as session:
        got = get_send_status(session, send_id)
        assert got is not None
        assert got.targeted == 2_000


def test_list_targets_and_filters(database: Database, queue: SqlQueue, app_id: int) -> None:
    rows = [device_row(i) for i in range(200)]
    import_devices(database, app_id, rows)
    with database.session() as session:
        upsert_user(session, app_id, "u5", tags=["gold"])
        opt_out(session, app_id, "u6", "promo")

    def fan(target: dict[str, Any]) -> list[int]:
        # What the API answers as "targeted" (from a session, and from a connection) ...
        with database.session(write=False) as session:
            counted = count_audience(session, app_id, Target.parse(target))
        with database.connect(write=False) as connection:
            assert count_audience(connection, app_id, Target.parse(target)) == counted
        send_id = new_send(database, app_id, target)
        fan_out(database, queue, send_id, chunk_size=7)
        jobs = [job for job in delivery_jobs(database) if job["id"].startswith(send_id)]
        assert all(len(job["payload"]["device_ids"]) <= 7 for job in jobs)
        assert all(len({job["payload"]["provider"]}) == 1 for job in jobs)
        # Sends to named tokens, devices or users take the direct lane; broadcasts the other.
        direct = "all" not in target
        assert all(job["queue"] == deliver_queue(job["payload"]["provider"], direct=direct) for job in jobs)
        # ... is what the fan-out then reaches.
        assert counted == len(targeted_ids(jobs))
        return sorted(targeted_ids(jobs))

    all_ids = fan({"all": True})
    assert len(all_ids) == 200
    tokens = [rows[0]["token"].upper(), rows[5]["token"], "unknown-token-000000000000", rows[0]["token"]]
    assert fan({"tokens": tokens}) == [all_ids[0], all_ids[5]]  # APNs tokens in any case
    assert fan({"device_ids": [all_ids[3], all_ids[4], 10**9]}) == [all_ids[3], all_ids[4]]
    assert fan({"users": ["u5", "u7", "nobody"]}) == [all_ids[5], all_ids[7], all_ids[105], all_ids[107]]
    assert len(fan({"all": True, "providers": ["wns", "webpush"]})) == 40
    assert len(fan({"all": True, "platforms": ["ios"]})) == 80
    assert fan({"all": True, "tags": ["gold"]}) == [all_ids[5], all_ids[105]]  # a user's tag
    assert len(fan({"all": True, "tags": ["odd", "gold"]})) == 100  # any of
    assert len(fan({"all": True, "topic": "promo"})) == 198  # u6 opted out of promo
    assert len(fan({"users": ["u6"], "topic": "news"})) == 2


def test_empty_audience_finishes_the_send(database: Database, queue: SqlQueue, app_id: int) -> None:
    send_id = new_send(database, app_id, {"users": ["nobody"]})
    result = fan_out(database, queue, send_id)
    assert (result.jobs, result.targeted, result.status) == (0, 0, "done")


def test_cancelled_and_unknown_sends_are_not_fanned_out(
    database: Database, queue: SqlQueue, app_id: int
) -> None:
    import_devices(database, app_id, (device_row(i) for i in range(10)))
    send_id = new_send(database, app_id, {"all": True})
    with database.session() as session:
        cancel_send(session, send_id)
    assert fan_out(database, queue, send_id).status == "cancelled"
    assert fan_out(database, queue, "no-such-send").status is None
    assert delivery_jobs(database) == []


def test_scheduled_sends_and_recovery(database: Database, app_id: int) -> None:
    clock = ManualClock(T0)
    queue = SqlQueue(database, clock=clock)
    send_at = datetime.fromtimestamp(T0 + 3600, UTC)
    scheduled = new_send(database, app_id, {"all": True}, send_at=send_at)
    immediate = new_send(database, app_id, {"all": True})
    assert enqueue_fanout(queue, scheduled, send_at) is True
    assert enqueue_fanout(queue, scheduled, send_at) is False
    assert queue.claim([FANOUT_QUEUE], limit=10, lease_seconds=60, worker="w") == []
    # The process died before enqueuing the immediate send's fan-out: recovery finds it.
    assert resume_fanouts(database, queue) == 1
    [job] = queue.claim([FANOUT_QUEUE], limit=10, lease_seconds=60, worker="w")
    assert job.payload == {"send_id": immediate}
    queue.complete([job.id])
    clock.advance(3600)
    [job] = queue.claim([FANOUT_QUEUE], limit=10, lease_seconds=60, worker="w")
    assert job.payload == {"send_id": scheduled}


def test_a_fan_out_out_of_tries_is_requeued_at_start_up(database: Database, app_id: int) -> None:
    import_devices(database, app_id, (device_row(i) for i in range(10)))
    queue = SqlQueue(database, clock=ManualClock(T0))
    send_id = new_send(database, app_id, {"all": True})
    queue.enqueue([fanout_job(send_id, max_tries=1)])
    [job] = queue.claim([FANOUT_QUEUE], limit=1, lease_seconds=60, worker="w")
    assert not queue.retry(job.id, reason="OperationalError")  # the database was away: dead letter
    with database.session(write=False) as session:
        got = get_send_status(session, send_id)
        assert got is not None
        assert got.status == "queued"

    assert resume_fanouts(database, queue) == 1  # the next start-up
    info = queue.get(job.id)
    assert info is not None
    assert (info.status, info.attempts) == (JobStatus.QUEUED, 0)
    [job] = queue.claim([FANOUT_QUEUE], limit=1, lease_seconds=60, worker="w")
    assert fan_out(database, queue, send_id).targeted == 10
    queue.complete([job.id])
    assert resume_fanouts(database, queue) == 0  # fanned out: nothing to resume


@pytest.mark.parametrize("database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_load_chunk_reads_only_its_own_devices_deliveries(database: Database, app_id: int) -> None:
    # A new send's id is in no statistics, so PostgreSQL expects few deliveries for it; a join on
    # deliveries by send_id then read every delivery the send had so far, once per chunk: a
    # broadcast's chunks cost more and more as it progressed (quadratic in its size).
    import_devices(database, app_id, (device_row(i) for i in range(3_000)))
    send_id = new_send(database, app_id, {"all": True})
    with database.connect(write=False) as connection:
        ids = list(connection.execute(
            sa.text("SELECT id FROM devices WHERE provider = 'fcm' ORDER BY id")).scalars())
    chunk, recorded = ids[:500], ids[500:]
    with database.session() as session:
        record_outcomes(session, send_id, "fcm", [Outcome(i, DeliveryStatus.SENT) for i in recorded])
    with database.connect(write=False) as connection:
        plan = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + chunks._CHUNK_POSTGRESQL, (send_id, chunk)).scalar_one()

    assert rows_read(plan[0]["Plan"], "deliveries") == 0  # probed by (send, device): none recorded
    assert len(load_chunk(database, send_id, "fcm", chunk)) == 500


def test_load_chunk_skips_recorded_and_settles_vanished_devices(
    database: Database, queue: SqlQueue, app_id: int
) -> None:
    with database.session() as session:
        upsert_user(session, app_id, "u1", locale="de", timezone="Europe/Berlin")
        devices = [
            register_device(session, app_id, DeviceSpec("fcm", f"fcm-token-{i:030d}", user="u1",
                                                         locale="fr" if i == 0 else None))
            for i in range(6)
        ]
    send_id = new_send(database, app_id, {"all": True})
    fan_out(database, queue, send_id, chunk_size=500)
    [job] = queue.claim([deliver_queue("fcm")], limit=1, lease_seconds=60, worker="w")
    with database.session() as session:
        sent = Outcome(devices[1].id, DeliveryStatus.SENT, message_id="m")
        record_outcomes(session, send_id, "fcm", [sent])
        delete_device(session, app_id, devices[2].id)
        deactivate_dead(session, app_id, "fcm", devices[3].token)

    rows = load(database, job.payload)

    assert [row.id for row in rows] == [devices[0].id, devices[4].id, devices[5].id]
    first = rows[0]
    assert (first.provider, first.token, first.user) == ("fcm", devices[0].token, "u1")
    assert (first.locale, rows[1].locale, first.timezone) == ("fr", "de", "Europe/Berlin")
    with database.session(write=False) as session:
        status = get_send_status(session, send_id)
    assert status is not None
    assert (status.sent, status.failed, status.pending) == (1, 2, 3)  # deleted + inactive settled
    assert [row.id for row in load(database, job.payload)] == [row.id for row in rows]  # stable
    with database.session() as session:
        cancel_send(session, send_id)
    assert load(database, job.payload) == []


@pytest.mark.parametrize("database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_users_targeted_page_reads_only_its_users_and_their_devices(
    database: Database, app_id: int
) -> None:
    # A page of a send to a list of users: 1,000 external ids. Left to the planner, each page read
    # every user and device of the app (a bitmap over app_id, or two sequential scans).
    for start in range(0, 3_000, 750):  # imports too small to refresh the statistics
        rows = (device_row(i) | {"user": f"user-{i}"} for i in range(start, start + 750))
        import_devices(database, app_id, rows)
    wanted = tuple(f"user-{i}" for i in range(100, 200))
    target = Target.parse({"users": list(wanted)})
    for statistics in ("as the imports left them", "fresh"):
        if statistics == "fresh":
            with database.connect() as connection:
                connection.exec_driver_sql("ANALYZE users, devices")
        with database.connect(write=False) as connection:
            query = fanout_queries.page_query(connection, app_id, target, list(wanted))
            plan = connection.execute(sa.text("EXPLAIN (ANALYZE, FORMAT JSON) " + str(
                query.compile(connection, compile_kwargs={"literal_binds": True})))).scalar_one()[0]["Plan"]
            batch, _ = fanout_queries.next_batch(connection, app_id, target, [0, 0], 1_000, 1)
        assert len(batch) == len(wanted)
        assert rows_read(plan, "users") == len(wanted), statistics
        assert rows_read(plan, "devices") == len(wanted), statistics
