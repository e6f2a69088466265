"""Accepting a send without the HTTP API: the stored answer, and backpressure as a retryable error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import pushgate
from pushgate.errors import Backpressure, PushgateError, RetryableError
from pushgate.notification import Notification
from pushgate.queue import Job
from pushgate.registry import Database, create_app
from pushgate.registry.models import Send
from pushgate.service import Accepted, Settings, open_queue, submit_send


def _app(db: Database) -> int:
    with db.session() as session:
        app, _ = create_app(session, "shop")
        return app.id


def _sends(db: Database) -> int:
    with db.session(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Send)) or 0)


def test_backpressure_is_retryable_and_exported_with_the_other_errors() -> None:
    refused = Backpressure(12, 10, 7)
    assert isinstance(refused, RetryableError)
    assert isinstance(refused, PushgateError)
    assert (refused.depth, refused.limit, refused.retry_after) == (12, 10, 7)
    assert str(refused) == "12 deliveries are waiting (the bound is 10); retry in 7s"
    assert pushgate.Backpressure is Backpressure
    assert "Backpressure" in pushgate.__all__


def test_a_full_queue_refuses_the_send_before_storing_it(database: Database) -> None:
    settings = Settings(max_queue_depth=10, backpressure_retry_after=7)
    queue = open_queue(settings, database)
    app_id = _app(database)
    queue.enqueue([Job(id="busy", queue="deliver:apns", payload={}, size=11)])
    with pytest.raises(Backpressure) as refused:
        submit_send(database, queue, settings, app_id, Notification(title="Hi"), {"all": True})
    assert refused.value.retry_after == 7
    assert _sends(database) == 0
    queue.complete(["busy"])
    accepted = submit_send(database, queue, settings, app_id, Notification(title="Hi"), {"all": True})
    assert (accepted.replayed, _sends(database)) == (False, 1)


def test_the_answer_is_the_documented_send_accepted_shape(database: Database) -> None:
    settings = Settings()
    queue = open_queue(settings, database)
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    app_id = _app(database)
    accepted = submit_send(database, queue, settings, app_id, Notification(title="Hi"),
                           {"all": True}, idempotency_key="k", now=now)
    answer = accepted.response
    assert answer == {"id": answer["id"], "status": "queued", "targeted": 0, "send_at": None,
                      "created_at": "2030-01-02T03:04:05Z", "scheduled": 0}
    replay = submit_send(database, queue, settings, app_id, Notification(title="Hi"),
                         {"all": True}, idempotency_key="k", now=now)
    assert (replay.replayed, replay.response) == (True, answer)


def test_the_answer_serialises_like_the_api_schema() -> None:
    # The API documents the answer with its own response model; both must write the same JSON.
    from pushgate.server.schemas import SendAccepted

    when = datetime(2030, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    fields: dict[str, Any] = {"id": "s1", "status": "queued", "targeted": None, "send_at": when,
                              "created_at": when}
    # The unknown users are only part of the answer to a send to users.
    assert Accepted(**fields).to_json() == SendAccepted(**fields).model_dump(mode="json", exclude_unset=True)
    fields.update(unknown_users=["bob"], unknown_user_count=1)
    assert Accepted(**fields).to_json() == SendAccepted(**fields).model_dump(mode="json", exclude_unset=True)
    # Pushpad's fields: the devices (scheduled) and the named users reached (uids).
    fields.update(targeted=2, scheduled=2, uids=["ann"])
    assert Accepted(**{k: v for k, v in fields.items() if k != "scheduled"}).to_json() == SendAccepted(
        **fields).model_dump(mode="json", exclude_unset=True)


def test_a_send_at_in_the_past_is_refused_naming_the_field(database: Database) -> None:
    # A time already gone is a mistake (a wrong year, a missing zone), not "now": nothing is stored.
    from pushgate.registry import ValidationError

    settings = Settings()
    queue = open_queue(settings, database)
    app_id = _app(database)
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(ValidationError) as refused:
        submit_send(database, queue, settings, app_id, Notification(title="Hi"), {"all": True},
                    send_at=now - timedelta(hours=3), now=now)
    assert refused.value.field == "send_at"
    assert "3 hours ago" in refused.value.message
    assert "omit send_at to send now" in refused.value.message
    assert _sends(database) == 0


def test_a_send_at_just_behind_the_clock_is_sent_now(database: Database) -> None:
    # The client's clock may run a little behind the server's: up to a minute means "now".
    settings = Settings()
    queue = open_queue(settings, database)
    app_id = _app(database)
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    accepted = submit_send(database, queue, settings, app_id, Notification(title="Hi"), {"all": True},
                           send_at=now - timedelta(seconds=50), now=now)
    assert accepted.response["scheduled"] == 0  # not scheduled: fanned out now


def test_a_replay_is_answered_even_once_its_send_at_has_passed(database: Database) -> None:
    # A client retrying with its Idempotency-Key gets the first answer, not a refusal.
    settings = Settings()
    queue = open_queue(settings, database)
    app_id = _app(database)
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    due = now + timedelta(minutes=5)
    first = submit_send(database, queue, settings, app_id, Notification(title="Hi"), {"all": True},
                        send_at=due, idempotency_key="k", now=now)
    later = submit_send(database, queue, settings, app_id, Notification(title="Hi"), {"all": True},
                        send_at=due, idempotency_key="k", now=now + timedelta(hours=1))
    assert (later.replayed, later.response) == (True, first.response)


def test_a_replay_is_answered_even_once_its_notification_has_expired(database: Database) -> None:
    # Replay comes before every other check (the module's contract): an expiry that has passed
    # since the first request does not turn the client's retry into a refusal.
    settings = Settings()
    queue = open_queue(settings, database)
    app_id = _app(database)
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    expiring = Notification(title="Hi", expiration=now + timedelta(minutes=5))
    first = submit_send(database, queue, settings, app_id, expiring, {"all": True},
                        idempotency_key="k", now=now)
    later = submit_send(database, queue, settings, app_id, expiring, {"all": True},
                        idempotency_key="k", now=now + timedelta(hours=1))
    assert (later.replayed, later.response) == (True, first.response)
