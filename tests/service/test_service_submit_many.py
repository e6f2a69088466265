"""Many sends in one transaction: each checked on its own, counted as count_audience does, stored together."""

from __future__ import annotations

from typing import Any

import pytest

from pushgate.errors import Backpressure, InvalidNotification
from pushgate.notification import Notification
from pushgate.planner import count_audience
from pushgate.queue import SqlQueue
from pushgate.registry import (
    Database,
    DeviceSpec,
    Target,
    ValidationError,
    create_app,
    get_send,
    register_device,
)
from pushgate.registry.users import opt_out
from pushgate.service.settings import Settings
from pushgate.service.submit_many import submit_many


def _token(n: int) -> str:
    return f"many-device-{n:04d}:APA91b{'m' * 120}"


def test_sends_are_checked_counted_and_stored_together(database: Database) -> None:
    with database.session() as session:
        app, _ = create_app(session, "game")
        app_id = app.id
        for n, user in enumerate(("a", "a", "b", "quiet")):
            register_device(session, app_id, DeviceSpec("fcm", _token(n), user=user))
        opt_out(session, app_id, "quiet")
    note = Notification(title="Hi")
    targets: list[dict[str, Any]] = [
        {"users": ["a"]}, {"users": ["b"]}, {"users": ["quiet"]}, {"users": ["ghost"]},
        {"topic": "deals"}, {"users": ["a"], "providers": ["apns"]},
    ]
    sends = [(note, target) for target in targets] + [(Notification(), {"users": ["a"]})]
    queue = SqlQueue(database)

    results = submit_many(database, queue, Settings(), app_id, sends)

    assert isinstance(results[4], ValidationError)
    assert isinstance(results[6], InvalidNotification)
    stored = [r for r in results if isinstance(r, dict)]
    assert [r["targeted"] for r in stored] == [2, 1, 0, 0, 0]
    assert stored[3]["unknown_users"] == ["ghost"]
    with database.session(write=False) as session:
        for target, answer in zip([t for t in targets if "topic" not in t], stored, strict=True):
            assert answer["targeted"] == count_audience(session, app_id, Target.parse(target))
            send = get_send(session, answer["id"])
            assert send is not None
            assert send.response == answer
    assert queue.depths()["fanout"] == 5


def test_a_batch_without_room_is_refused_whole(database: Database) -> None:
    with database.session() as session:
        app, _ = create_app(session, "game")
        app_id = app.id
        for n in range(3):
            register_device(session, app_id, DeviceSpec("fcm", _token(n), user=f"u{n}"))
    queue = SqlQueue(database)
    settings = Settings(max_direct_queue_depth=2)
    sends = [(Notification(title="Hi"), {"users": [f"u{n}"]}) for n in range(3)]
    submit_many(database, queue, settings, app_id, sends[:1])
    with pytest.raises(Backpressure):
        submit_many(database, queue, settings, app_id, sends[1:])
    assert queue.depths()["fanout"] == 1
