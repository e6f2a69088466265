"""Sends: creation and idempotency, outcome recording (idempotent counters), status, deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from pushgate.notification import Notification
from pushgate.registry import (
    Database,
    DeliveryStatus,
    IdempotencyConflict,
    Outcome,
    SendStatus,
    ValidationError,
    cancel_send,
    create_app,
    create_send,
    device_deliveries,
    get_send,
    get_send_status,
    list_deliveries,
    list_sends,
    record_outcomes,
    save_response,
    send_id_for_key,
    sends_to_resume,
)
from pushgate.registry.models import sends_table
from pushgate.results import Cause, Status, TokenResult

NOTE = {"title": "Shipped", "body": "Arrives Thursday"}


@pytest.fixture
def app_id(database: Database) -> int:
    with database.session() as session:
        app, _ = create_app(session, "shop")
    return app.id


def start_sending(database: Database, send_id: str, targeted: int) -> None:
    """What fan-out does once every job exists."""
    with database.connect() as connection:
        connection.execute(
            sa.update(sends_table).where(sends_table.c.id == send_id)
            .values(targeted=targeted, status=SendStatus.SENDING.value)
        )


def test_create_send_stores_validated_json(database: Database, app_id: int) -> None:
    send_at = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
    with database.session() as session:
        send = create_send(
            session, app_id, Notification(title="Hi", badge=2),
            {"users": ["a", "b", "a"], "platforms": ["ios"], "topic": "news"}, send_at=send_at,
        )
    with database.session(write=False) as session:
        stored = get_send(session, send.id, app_id=app_id)
        assert stored is not None
        assert stored.notification == {"title": "Hi", "badge": 2, "silent": False, "mutable_content": False}
        assert stored.target == {"users": ["a", "b"], "platforms": ["ios"], "topic": "news"}
        assert (stored.status, stored.send_at) == ("queued", send_at)
        assert get_send(session, send.id, app_id=app_id + 1) is None
        assert sends_to_resume(session) == [(send.id, send_at)]


@pytest.mark.parametrize(
    ("notification", "target", "field"),
    [
        ({"title": "x", "colour": "red"}, {"all": True}, "notification.colour"),
        ({"badge": -1}, {"all": True}, "notification.badge"),
        (NOTE, {}, "target"),
        (NOTE, {"all": True, "users": ["a"]}, "target"),
        (NOTE, {"all": "yes"}, "target.all"),
        (NOTE, {"tokens": []}, "target.tokens"),
        (NOTE, {"device_ids": ["1"]}, "target.device_ids"),
        (NOTE, {"device_ids": [2**70]}, "target.device_ids"),
        (NOTE, {"users": ["a"] * 10_001}, "target.users"),
        (NOTE, {"all": True, "platforms": ["nokia"]}, "target.platforms"),
        (NOTE, {"all": True, "providers": ["gcm"]}, "target.providers"),
        (NOTE, {"all": True, "segment": "x"}, "target.segment"),
        (NOTE, {"all": True, "topic": ""}, "target.topic"),
    ],
)
def test_create_send_errors_name_the_field(
    database: Database, app_id: int, notification: dict[str, object], target: dict[str, object], field: str
) -> None:
    with database.session() as session, pytest.raises(ValidationError) as exc:
        create_send(session, app_id, notification, target)
    assert exc.value.field == field


def test_idempotency_key_returns_the_same_send_or_conflicts(database: Database, app_id: int) -> None:
    with database.session() as session:
        first = create_send(session, app_id, NOTE, {"all": True}, idempotency_key="req-1")
        save_response(session, first.id, {"id": first.id, "status": "queued"})
    with database.session() as session:
        again = create_send(session, app_id, dict(NOTE), {"all": True}, idempotency_key="req-1")
        assert again.id == first.id
        assert again.response == {"id": first.id, "status": "queued"}
        with pytest.raises(IdempotencyConflict):
            create_send(session, app_id, {"title": "other"}, {"all": True}, idempotency_key="req-1")
        other_app, _ = create_app(session, "other")
        assert create_send(session, other_app.id, NOTE, {"all": True}, idempotency_key="req-1").id != first.id
        assert create_send(session, app_id, NOTE, {"all": True}).id != first.id  # no key: always new
        assert send_id_for_key(session, app_id, "req-1") == first.id
        assert send_id_for_key(session, app_id, "req-2") is None


def test_record_outcomes_is_idempotent_and_counts_once(database: Database, app_id: int) -> None:
    with database.session() as session:
        send = create_send(session, app_id, NOTE, {"all": True})
    start_sending(database, send.id, targeted=5)
    batch = [
        Outcome(1, DeliveryStatus.SENT, message_id="m1"),
        Outcome(2, DeliveryStatus.DEAD, reason="Unregistered"),
        Outcome(2, DeliveryStatus.SENT),  # same device twice in one call: the first wins
    ]
    with database.session() as session:
        assert record_outcomes(session, send.id, "apns", batch) == {"sent": 1, "dead": 1}
    with database.session() as session:  # the job re-runs after a crash: nothing new
        assert record_outcomes(session, send.id, "apns", batch) == {}
        status = get_send_status(session, send.id)
    assert status is not None
    assert (status.sent, status.dead, status.pending, status.status) == (1, 1, 3, "sending")
    with database.session() as session:
        newly = record_outcomes(session, send.id, "apns", [
            Outcome(1, DeliveryStatus.FAILED),  # already recorded as sent: ignored
            Outcome(3, DeliveryStatus.FAILED, reason="BadTopic"),
            Outcome(4, DeliveryStatus.EXPIRED),
            Outcome(5, DeliveryStatus.SENT, message_id="m5", attempts=3),
        ])
        assert newly == {"failed": 1, "expired": 1, "sent": 1}
        status = get_send_status(session, send.id, app_id=app_id)
    assert status is not None
    assert (status.targeted, status.sent, status.failed, status.dead, status.expired) == (5, 2, 1, 1, 1)
    assert (status.pending, status.status) == (0, "done")
    assert status.finished_at is not None


def test_outcomes_before_fanout_finished_do_not_finish_the_send(database: Database, app_id: int) -> None:
    with database.session() as session:
        send = create_send(session, app_id, NOTE, {"all": True})
        record_outcomes(session, send.id, "fcm", [Outcome(1, DeliveryStatus.SENT)])
        status = get_send_status(session, send.id)
    assert status is not None
    assert (status.status, status.sent, status.pending) == ("queued", 1, 0)


def test_deliveries_pages_and_device_history(database: Database, app_id: int) -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    with database.session() as session:
        sends = [create_send(session, app_id, NOTE, {"all": True}) for _ in range(3)]
    for n, send in enumerate(sends):
        with database.session() as session:
            record_outcomes(
                session, send.id, "fcm",
                [Outcome(i, DeliveryStatus.SENT if i % 4 else DeliveryStatus.DEAD) for i in range(1, 11)],
                now=t0 + timedelta(minutes=n),
            )
    seen: list[int] = []
    cursor = None
    with database.session(write=False) as session:
        while True:
            page = list_deliveries(session, sends[0].id, cursor=cursor, limit=3)
            seen.extend(d.device_id for d in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == list(range(1, 11))
        dead = list_deliveries(session, sends[0].id, status="dead").items
        assert [d.device_id for d in dead] == [4, 8]
        history = device_deliveries(session, 4, limit=2)
        assert [h.send_id for h in history] == [sends[2].id, sends[1].id]
        assert history[0].updated_at == t0 + timedelta(minutes=2)


def test_cancel_and_list_sends(database: Database, app_id: int) -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    with database.session() as session:
        sends = [
            create_send(session, app_id, NOTE, {"all": True}, now=t0 + timedelta(seconds=i)) for i in range(4)
        ]
        cancelled = cancel_send(session, sends[1].id, app_id=app_id)
        assert cancelled is not None
        assert cancelled.status == "cancelled"
        assert cancel_send(session, sends[1].id, app_id=app_id + 1) is None
        newest_first = [s.id for s in list_sends(session, app_id).items]
        assert newest_first == [s.id for s in reversed(sends)]
        assert [s.id for s in list_sends(session, app_id, status="cancelled").items] == [sends[1].id]
        first = list_sends(session, app_id, limit=2)
        assert [s.id for s in first.items] == [sends[3].id, sends[2].id]
        rest = list_sends(session, app_id, cursor=first.next_cursor, limit=2)
        assert ([s.id for s in rest.items], rest.next_cursor) == ([sends[1].id, sends[0].id], None)
        # A cursor issued before cursors carried the id (a bare created_at) still reads.
        legacy = (t0 + timedelta(seconds=2)).isoformat()
        assert [s.id for s in list_sends(session, app_id, cursor=legacy).items] == [sends[1].id, sends[0].id]
        assert {send_id for send_id, _ in sends_to_resume(session)} == {sends[0].id, sends[2].id, sends[3].id}


def test_outcome_from_token_result() -> None:
    sent = Outcome.from_result(7, TokenResult("t", Status.SENT, message_id="apns-id", attempts=2))
    assert sent == Outcome(7, DeliveryStatus.SENT, None, "apns-id", 2)
    dead = Outcome.from_result(7, TokenResult("t", Status.DEAD, reason="Unregistered"))
    assert (dead.status, dead.reason) == (DeliveryStatus.DEAD, "Unregistered")
    expired = Outcome.from_result(7, TokenResult("t", Status.FAILED, cause=Cause.EXPIRED))
    assert (expired.status, expired.reason) == (DeliveryStatus.EXPIRED, "expired")
    failed = Outcome.from_result(7, TokenResult("t", Status.FAILED, reason="BadTopic", cause=Cause.CONFIG))
    assert (failed.status, failed.reason) == (DeliveryStatus.FAILED, "BadTopic")
    retry = TokenResult("t", Status.RETRY, cause=Cause.THROTTLED)
    with pytest.raises(ValueError, match="not a final outcome"):
        Outcome.from_result(7, retry)
    assert Outcome.from_result(7, retry, give_up=True).status is DeliveryStatus.FAILED


def test_concurrent_requests_with_one_idempotency_key_create_one_send(
    database: Database, app_id: int
) -> None:
    import threading

    barrier = threading.Barrier(4)
    ids: list[str] = []
    errors: list[BaseException] = []

    def request() -> None:
        try:
            barrier.wait()
            with database.session() as session:
                ids.append(create_send(session, app_id, NOTE, {"all": True}, idempotency_key="race").id)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(ids)) == 1
    with database.session(write=False) as session:
        assert [s.id for s in list_sends(session, app_id).items] == ids[:1]


def test_send_list_pages_keep_sends_sharing_a_created_at(database: Database, app_id: int) -> None:
    tick = datetime(2030, 1, 1, tzinfo=UTC)
    with database.session() as session:
        same = {create_send(session, app_id, NOTE, {"all": True}, now=tick).id for _ in range(5)}
        older = create_send(session, app_id, NOTE, {"all": True}, now=tick - timedelta(seconds=1)).id
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = list_sends(session, app_id, cursor=cursor, limit=2)
            seen += [view.id for view in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert sorted(seen[:5]) == sorted(same)
    assert seen[5:] == [older]


@pytest.mark.parametrize("cursor", ["garbage", "dDE6bm90LWEtdGltZQ", "djE6MTI"])
def test_send_list_rejects_cursors_it_did_not_issue(database: Database, app_id: int, cursor: str) -> None:
    with database.session(write=False) as session, pytest.raises(ValidationError, match="cursor"):
        list_sends(session, app_id, cursor=cursor)
