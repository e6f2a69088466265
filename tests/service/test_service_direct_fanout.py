"""A send to a short list of tokens, devices or users is fanned out in the API's own transaction.

What the 202 promises does not change (the send and the work that
delivers it are durable together); what changes is the work stored: the
delivery jobs on the direct lane instead of a fan-out job, so no worker
has to run a fan-out before the delivery (planner/fanout.py, fan_out_now).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from pushgate.notification import Notification
from pushgate.planner import FANOUT_QUEUE, fan_out, resume_fanouts
from pushgate.queue import JobStatus
from pushgate.registry import Database, DeviceSpec, create_app, register_device
from pushgate.registry.db import _BEGIN_OPTION
from pushgate.registry.models import Send
from pushgate.service import Settings, open_queue, submit_send

APNS = [f"{i:064x}" for i in range(1, 4)]
FCM = "fcm-token-" + "0" * 30


def _app_with_devices(db: Database) -> tuple[int, dict[str, int]]:
    """An app with three iOS devices (users u0, u1, u2) and one Android device (user u1)."""
    with db.session() as session:
        app, _ = create_app(session, "shop")
        ids = {token: register_device(session, app.id, DeviceSpec("apns", token, user=f"u{i}")).id
               for i, token in enumerate(APNS)}
        ids[FCM] = register_device(session, app.id, DeviceSpec("fcm", FCM, user="u1")).id
        return app.id, ids


def _send(db: Database, send_id: str) -> Send:
    with db.session(write=False) as session:
        row = session.get(Send, send_id)
        assert row is not None
        return row


def test_a_send_to_tokens_stores_its_delivery_jobs_with_it_and_no_fanout_job(database: Database) -> None:
    settings = Settings()
    queue = open_queue(settings, database)
    app_id, ids = _app_with_devices(database)
    submission = submit_send(database, queue, settings, app_id, Notification(title="Code 123456"),
                             {"tokens": [APNS[0], APNS[1].upper(), FCM, "no-such-token-00000000"]})
    send_id = submission.response["id"]
    assert (submission.response["status"], submission.response["targeted"]) == ("sending", 3)
    # The queues the API wakes the in-process workers for: the direct lanes, not fan-out.
    assert submission.queues == ("deliver:apns:direct", "deliver:fcm:direct")
    assert queue.get(f"fanout:{send_id}") is None
    jobs = [queue.get(f"{send_id}:{n}") for n in range(3)]
    assert jobs[2] is None
    stored = {(job.queue, tuple(job.payload["device_ids"]), job.status) for job in jobs if job is not None}
    assert stored == {
        ("deliver:apns:direct", (ids[APNS[0]], ids[APNS[1]]), JobStatus.QUEUED),
        ("deliver:fcm:direct", (ids[FCM],), JobStatus.QUEUED),
    }
    row = _send(database, send_id)
    assert (row.status, row.targeted, row.audience, row.finished_at) == ("sending", 3, 3, None)
    # The state a finished fan-out leaves: start-up has nothing to resume, a fan-out run adds nothing.
    assert row.fanout_state == {"cursor": [4, 0], "chunks": 2, "pending": []}
    assert resume_fanouts(database, queue) == 0
    again = fan_out(database, queue, send_id)
    assert (again.jobs, again.targeted, again.status) == (0, 0, "sending")


def test_sends_to_device_ids_and_users_take_the_same_path(database: Database) -> None:
    settings = Settings()
    queue = open_queue(settings, database)
    app_id, ids = _app_with_devices(database)
    by_ids = submit_send(database, queue, settings, app_id, Notification(title="Hi"),
                         {"device_ids": [ids[APNS[2]]]})
    by_users = submit_send(database, queue, settings, app_id, Notification(title="Hi"),
                           {"users": ["u1", "nobody"]})
    assert by_ids.queues == ("deliver:apns:direct",)
    assert by_users.queues == ("deliver:apns:direct", "deliver:fcm:direct")
    assert (by_users.response["targeted"], by_users.response["unknown_users"]) == (2, ["nobody"])
    ids_job = queue.get(f"{by_ids.response['id']}:0")
    assert ids_job is not None
    assert ids_job.payload["device_ids"] == [ids[APNS[2]]]
    assert _send(database, by_users.response["id"]).targeted == 2


def test_a_send_that_reaches_no_device_is_done_at_once(database: Database) -> None:
    settings = Settings()
    queue = open_queue(settings, database)
    app_id, _ = _app_with_devices(database)
    submission = submit_send(database, queue, settings, app_id, Notification(title="Hi"),
                             {"tokens": ["unknown-token-000000000"]})
    assert (submission.response["status"], submission.response["targeted"]) == ("done", 0)
    assert submission.queues == ()
    row = _send(database, submission.response["id"])
    assert (row.status, row.targeted) == ("done", 0)
    assert row.finished_at is not None
    assert queue.depth() == 0


def test_an_idempotent_replay_stores_nothing_more(database: Database) -> None:
    settings = Settings()
    queue = open_queue(settings, database)
    app_id, _ = _app_with_devices(database)
    first = submit_send(database, queue, settings, app_id, Notification(title="Hi"),
                        {"tokens": [APNS[0]]}, idempotency_key="login-1")
    replay = submit_send(database, queue, settings, app_id, Notification(title="Hi"),
                         {"tokens": [APNS[0]]}, idempotency_key="login-1")
    assert (replay.replayed, replay.response, replay.queues) == (True, first.response, ())
    assert queue.depth() == 1
    assert queue.get(f"fanout:{first.response['id']}") is None


def test_scheduled_sends_broadcasts_and_long_lists_keep_their_fanout_job(database: Database) -> None:
    settings = Settings(chunk_size=2)  # a list longer than one slice of the walk is "long"
    queue = open_queue(settings, database)
    app_id, _ = _app_with_devices(database)
    later = datetime.now(UTC) + timedelta(hours=1)
    cases: list[tuple[dict[str, Any], datetime | None]] = [
        ({"tokens": [APNS[0]]}, later),
        ({"all": True}, None),
        ({"tokens": APNS}, None),
    ]
    for target, send_at in cases:
        submission = submit_send(database, queue, settings, app_id, Notification(title="Hi"), target,
                                 send_at=send_at)
        send_id = submission.response["id"]
        assert submission.queues == (FANOUT_QUEUE,), target
        assert queue.get(f"fanout:{send_id}") is not None, target
        assert queue.get(f"{send_id}:0") is None, target
        assert _send(database, send_id).status == "queued"
    # The long list still reaches every device, through its fan-out job.
    long_list = _send(database, submission.response["id"])
    result = fan_out(database, queue, long_list.id, chunk_size=2)
    assert (result.targeted, result.status) == (3, "sending")


def _write_statements(database: Database) -> list[str]:
    """The statements that will run in write transactions (SQLite: under its one write lock),
    each as its verb and table."""
    seen: list[str] = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def record(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if connection.get_execution_options().get(_BEGIN_OPTION) == "IMMEDIATE":
            words = statement.split()
            if words[0] == "SELECT":
                table = words[words.index("FROM") + 1]
            else:
                table = words[2] if words[0] == "INSERT" else words[1]
            seen.append(f"{words[0]} {table}")

    return seen


def test_a_direct_send_writes_its_row_once_and_its_jobs_in_a_short_transaction(database: Database) -> None:
    """The send's row, answer and fan-out state are built before the write transaction and go in
    with one INSERT: no savepoint, no UPDATE of the row just written. On SQLite the write lock is
    held for these statements only, not for the Python that builds them."""
    settings = Settings()
    queue = open_queue(settings, database)
    app_id, ids = _app_with_devices(database)
    writes = _write_statements(database)
    submission = submit_send(database, queue, settings, app_id, Notification(title="Code 123456"),
                             {"tokens": [APNS[0]]})
    assert sorted(writes) == ["INSERT jobs", "INSERT sends", "SELECT apps"]
    row = _send(database, submission.response["id"])
    assert (row.status, row.targeted, row.response) == ("sending", 1, submission.response)
    assert row.fanout_state == {"cursor": [1, 0], "chunks": 1, "pending": []}
    job = queue.get(f"{submission.response['id']}:0")
    assert job is not None
    assert job.payload["device_ids"] == [ids[APNS[0]]]


def test_a_keyed_send_checks_its_key_in_the_write_transaction(database: Database) -> None:
    settings = Settings()
    queue = open_queue(settings, database)
    app_id, _ = _app_with_devices(database)
    writes = _write_statements(database)
    submit_send(database, queue, settings, app_id, Notification(title="Hi"), {"tokens": [APNS[0]]},
                idempotency_key="login-7")
    # The key's lookup, and a savepoint around the insert: a concurrent request may take the key.
    assert writes.count("INSERT sends") == 1
    assert "UPDATE sends" not in writes
    assert any(statement.startswith("SAVEPOINT") for statement in writes)
