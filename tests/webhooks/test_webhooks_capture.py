"""Events are written with what they report: outcomes (both write paths) and browsers' displayed and
clicked reports, once each, for the enabled webhooks that take their type (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from pushgate.registry import (
    CredentialCipher,
    Database,
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    create_app,
    record_outcomes,
    register_device,
)
from pushgate.registry.dead import DeadToken
from pushgate.registry.engagement import EventKind, ReportedEvent, record_events
from pushgate.registry.models import Send
from pushgate.registry.outcome_writer import OutcomeWriter
from pushgate.registry.webhooks import (
    create_webhook,
    get_webhook,
    load_batch,
    pending_events,
    purge_webhook_events,
    update_webhook,
)

ENDPOINT = "https://updates.push.services.mozilla.com/wpush/v2/one"
P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
CIPHER = CredentialCipher(None)
URL = "https://hooks.example.com/in"


def app_with_send(db: Database, provider: str = "apns") -> tuple[int, int]:
    """An app with one device and the send "send-1": (app id, device id)."""
    with db.session() as session:
        app, _ = create_app(session, "shop")
        if provider == "webpush":
            spec = DeviceSpec("webpush", ENDPOINT, p256dh=P256DH, auth=AUTH)
        else:
            spec = DeviceSpec("apns", "ab" * 32)
        device = register_device(session, app.id, spec)
        session.add(Send(id="send-1", app_id=app.id, notification={"title": "t"}, target={"all": True},
                         status="sending", request_hash="h", targeted=1))
        return app.id, device.id


def webhook(db: Database, app_id: int, events: list[str] | None = None) -> int:
    with db.session() as session:
        made, _ = create_webhook(session, app_id, URL, events=events, enabled=True, cipher=CIPHER)
        return made.id


def waiting(db: Database, webhook_id: int) -> list[dict[str, Any]]:
    batch = load_batch(db, webhook_id, CIPHER, 100)
    return [] if batch is None else batch.events


def test_browser_reports_become_events_once_for_the_webhooks_that_take_them(database: Database) -> None:
    app_id, device_id = app_with_send(database, "webpush")
    everything, clicks = webhook(database, app_id), webhook(database, app_id, ["delivery.clicked"])
    reports = [ReportedEvent("send-1", EventKind.DISPLAYED, ENDPOINT),
               ReportedEvent("send-1", EventKind.CLICKED, ENDPOINT, "open")]
    for _ in range(2):  # the same reports twice: recorded, and captured, once
        with database.session() as session:
            record_events(session, reports, app_allowed=lambda _app: True)
    assert [(e["type"], e["device_id"], e["provider"]) for e in waiting(database, everything)] == [
        ("delivery.displayed", device_id, "webpush"), ("delivery.clicked", device_id, "webpush")]
    (click,) = waiting(database, clicks)
    assert (click["type"], click["action"]) == ("delivery.clicked", "open")
    assert click["id"] == f"send-1:{device_id}:clicked"


def test_outcomes_become_events_once_on_both_write_paths(database: Database) -> None:
    app_id, device_id = app_with_send(database)
    hook = webhook(database, app_id)
    gone_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    dead = Outcome(device_id, DeliveryStatus.DEAD, "Unregistered")
    writer = OutcomeWriter(database)
    try:
        # The session path (a batch with dead tokens), then the driver path re-writing the same outcome.
        writer.write({("send-1", "apns"): [dead]}, [DeadToken(device_id, "Unregistered", gone_at)])
        writer.write({("send-1", "apns"): [dead]})
        with database.session() as session:
            record_outcomes(session, "send-1", "apns", [dead])
    finally:
        writer.close()
    (event,) = waiting(database, hook)
    assert (event["type"], event["reason"], event["provider_timestamp"]) == (
        "delivery.dead", "Unregistered", "2026-01-02T03:04:05Z")


def test_the_driver_path_captures_and_a_disabled_webhook_collects_nothing(database: Database) -> None:
    app_id, device_id = app_with_send(database)
    on, off = webhook(database, app_id), webhook(database, app_id)
    with database.session() as session:
        update_webhook(session, get_webhook(session, app_id, off), enabled=False)
    writer = OutcomeWriter(database)
    try:
        writer.write({("send-1", "apns"): [Outcome(device_id, DeliveryStatus.SENT, message_id="m-1")]})
    finally:
        writer.close()
    (event,) = waiting(database, on)
    assert (event["type"], event["device_id"], event["reason"]) == ("delivery.sent", device_id, None)
    assert "provider_timestamp" not in event
    with database.session(write=False) as session:
        assert pending_events(session, [on, off]) == {on: 1}


def test_retention_deletes_events_left_waiting(database: Database) -> None:
    app_id, device_id = app_with_send(database)
    hook = webhook(database, app_id)
    with database.session() as session:
        record_outcomes(session, "send-1", "apns", [Outcome(device_id, DeliveryStatus.SENT)],
                        now=datetime(2026, 3, 1, tzinfo=UTC))
    assert purge_webhook_events(database, older_than=datetime(2026, 3, 1, tzinfo=UTC)) == 0
    assert purge_webhook_events(database, older_than=datetime(2026, 3, 2, tzinfo=UTC)) == 1
    assert waiting(database, hook) == []


def test_the_writer_looks_up_a_sends_webhooks_once_a_second(database: Database) -> None:
    """Outcomes written within a second of the lookup that found no webhook make no event; after
    it, they do (docs/webhooks.md §2). The clock is the writer's own, moved by the test."""
    app_id, device_id = app_with_send(database)
    now = [1000.0]
    writer = OutcomeWriter(database, clock=lambda: now[0])
    with database.session() as session:
        session.execute(sa.update(Send).where(Send.id == "send-1").values(targeted=3))
        second = register_device(session, app_id, DeviceSpec("apns", "cd" * 32)).id
        third = register_device(session, app_id, DeviceSpec("apns", "ef" * 32)).id
    try:
        writer.write({("send-1", "apns"): [Outcome(device_id, DeliveryStatus.SENT)]})  # no webhook yet
        hook = webhook(database, app_id)
        now[0] += 0.5
        writer.write({("send-1", "apns"): [Outcome(second, DeliveryStatus.FAILED, "BadTopic")]})
        assert waiting(database, hook) == []  # the lookup half a second ago said "none"
        now[0] += 0.6
        writer.write({("send-1", "apns"): [Outcome(third, DeliveryStatus.SENT)]})
    finally:
        writer.close()
    assert [(e["type"], e["device_id"]) for e in waiting(database, hook)] == [("delivery.sent", third)]
