"""Deciding event batches on a real database: cooldown, expiry, opt-outs, rendering, languages,
frequency caps and quiet hours.

Batches are stored through the service and decided by the worker's own
function (:func:`decide_batch`) with an injected ``now``, so time moves by
argument, never by sleeping; what it decided is read back from the batch,
the sends, the texts and the queue.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pushgate.queue import SqlQueue
from pushgate.registry import Database, DeviceSpec, cancel_send, opt_out, register_device, upsert_user
from pushgate.registry.catalog.batches import BatchView, purge_texts
from pushgate.registry.catalog.tables import event_texts_table
from pushgate.registry.models import deliveries_table
from pushgate.service.events import EventIn, store_events
from pushgate.service.settings import Settings
from pushgate.workers.events import decide_batch
from tests.workers.event_helpers import batch, event, login, put_message, services_for, set_event_settings
from tests.workers.worker_helpers import make_app

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


class Events:
    """An app, its users and devices, and batches decided at a chosen time."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.app_id, _ = make_app(db, None, 0)
        self.services = services_for(Settings.model_validate({"database_url": "sqlite:///unused.db"}), db)
        self.queue = SqlQueue(db)

    def user(self, name: str, *, locale: str | None = None, timezone: str | None = None,
             devices: int = 1) -> None:
        with self.db.session() as session:
            upsert_user(session, self.app_id, name, locale=locale, timezone=timezone)
            for _ in range(devices):
                register_device(session, self.app_id, DeviceSpec("apns", secrets.token_hex(32), user=name))

    def run(self, *events: EventIn, now: datetime = NOW) -> BatchView:
        stored = store_events(self.services, self.app_id, list(events))
        assert stored.batch_id is not None, stored.result
        decided = decide_batch(self.db, self.queue, stored.batch_id, chunk_size=100, max_tries=3, now=now)
        assert decided is not None
        return batch(self.db, self.app_id, stored.batch_id)

    def texts(self, view: BatchView) -> list[tuple[str, str]]:
        assert view.outcome is not None
        with self.db.connect(write=False) as connection:
            rows = connection.execute(sa.select(event_texts_table.c.title, event_texts_table.c.body).where(
                event_texts_table.c.send_id.in_(view.outcome["sends"])).order_by(event_texts_table.c.title))
            return [(row.title, row.body) for row in rows]


def counts(view: BatchView) -> dict[str, Any]:
    assert view.outcome is not None
    return {k: v for k, v in view.outcome["counts"].items() if k != "deliveries"}


def test_cooldown_holds_back_the_same_message_until_it_ends(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id, cooldown=3600)
    e.user("ana")
    assert counts(e.run(event("ana", name="A", count="1", at=NOW), now=NOW)) == {"notified": 1}
    later = NOW + timedelta(minutes=30)
    assert counts(e.run(event("ana", name="A", count="2", at=later), now=later)) == {"cooldown": 1}
    after = NOW + timedelta(hours=1)
    assert counts(e.run(event("ana", name="A", count="3", at=after), now=after)) == {"notified": 1}


def test_two_events_for_one_user_in_one_batch_without_cooldown_both_notify(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id)
    e.user("ana")
    view = e.run(event("ana", name="A", count="1", at=NOW), event("ana", name="A", count="2", at=NOW))
    assert counts(view) == {"notified": 2}
    assert view.outcome is not None
    assert len(view.outcome["sends"]) == 2  # one device cannot hold two deliveries of one send
    with_cooldown = Events(database)
    put_message(database, with_cooldown.app_id, cooldown=60)
    with_cooldown.user("bo")
    twice = with_cooldown.run(event("bo", name="B", count="1", at=NOW),
                              event("bo", name="B", count="2", at=NOW))
    assert counts(twice) == {"notified": 1, "cooldown": 1}


def test_an_event_older_than_the_expiry_does_not_notify(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id, expiry=300)
    e.user("ana")
    old = event("ana", name="A", count="1", at=NOW - timedelta(minutes=10))
    fresh = event("ana", name="A", count="1", at=NOW - timedelta(minutes=4))
    assert counts(e.run(old, fresh)) == {"expired": 1, "notified": 1}


def test_the_optout_snapshot_replaces_the_users_refused_messages(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id)
    put_message(database, e.app_id, "other", events=[1002])
    e.user("ana")
    optout = EventIn("ana", 4006, NOW, {"blacklist1": "greeting"})
    both = [event("ana", name="A", count="1"), event("ana", 1002, name="A", count="1")]
    assert counts(e.run(optout, *both)) == {"optout_snapshots": 1, "opted_out": 1, "notified": 1}
    assert counts(e.run(EventIn("ana", 4006, NOW, {}), *both)) == {"optout_snapshots": 1, "notified": 2}
    with database.session() as session:
        opt_out(session, e.app_id, "ana", "other")  # an opt-out topic named as the message
    assert counts(e.run(*both)) == {"opted_out": 1, "notified": 1}
    with database.session() as session:
        opt_out(session, e.app_id, "ana")  # "*": nothing at all
    assert counts(e.run(*both)) == {"opted_out": 2}


def test_a_missing_parameter_fails_the_delivery_with_a_reason_and_spends_no_cooldown(
    database: Database,
) -> None:
    e = Events(database)
    put_message(database, e.app_id, cooldown=3600)
    e.user("ana", devices=2)
    view = e.run(event("ana", name="A"))  # no "count"
    assert counts(view) == {"render_failed": 1}
    assert view.outcome is not None
    [send_id] = view.outcome["sends"]
    with database.connect(write=False) as connection:
        rows = connection.execute(sa.select(deliveries_table.c.status, deliveries_table.c.reason)
                                  .where(deliveries_table.c.send_id == send_id)).all()
    assert [(r.status, r.reason) for r in rows] == [("failed", "MissingParameter:count")] * 2
    assert e.texts(view) == []
    assert counts(e.run(event("ana", name="A", count="1"))) == {"notified": 1}


def test_the_batch_names_why_rendering_failed_with_counts(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id)
    put_message(database, e.app_id, "german", events=[1002], localizations={"de": {"title": "Hallo",
                                                                                 "body": "{name}"}})
    e.user("ana", devices=2)
    e.user("bo")
    view = e.run(event("ana", name="A"), event("bo", name="B"), event("bo", count="1"),
                 event("bo", 1002, name="B"), event("ana", name="A", count="1"))
    assert counts(view) == {"notified": 1, "render_failed": 4}
    assert view.outcome is not None
    # One entry per message and reason, counting (user, message) pairs like render_failed.
    assert view.outcome["render_failures"] == [
        {"message": "greeting", "reason": "MissingParameter:count", "count": 2,
         "detail": "the template uses params.count; the event did not carry it"},
        {"message": "greeting", "reason": "MissingParameter:name", "count": 1,
         "detail": "the template uses params.name; the event did not carry it"},
        {"message": "german", "reason": "NoLocalization", "count": 1,
         "detail": "the message has no localization for the user's language, the app's default "
                   "language or English"},
    ]
    assert e.run(event("ana", name="A", count="1")).outcome["render_failures"] == []  # type: ignore[index]


def test_the_render_failures_a_batch_lists_are_bounded(database: Database) -> None:
    e = Events(database)
    names = [f"p{i}" for i in range(15)]
    put_message(database, e.app_id, localizations={"en": {"title": "".join(f"{{{n}}}" for n in names),
                                                          "body": ""}})
    e.user("ana")
    # Each event lacks one parameter only: 15 distinct reasons.
    view = e.run(*(EventIn("ana", 1001, NOW, {n: "x" for n in names if n != missing}) for missing in names))
    assert counts(view) == {"render_failed": 15}
    assert view.outcome is not None
    listed = view.outcome["render_failures"]
    assert [entry["reason"] for entry in listed] == [f"MissingParameter:p{i}" for i in range(10)]


def test_language_falls_back_from_region_to_language_to_the_app_default_to_english(
    database: Database,
) -> None:
    e = Events(database)
    put_message(database, e.app_id, localizations={
        "en": {"title": "en {name}", "body": "b"}, "fr": {"title": "fr {name}", "body": "b"},
        "es": {"title": "es {name}", "body": "b"}})
    set_event_settings(database, e.app_id, default_language="es")
    e.user("canadian", locale="fr-CA")
    e.user("german", locale="de-DE")
    e.user("nobody")
    view = e.run(*(event(u, name=u) for u in ("canadian", "german", "nobody")))
    assert e.texts(view) == [("es german", "b"), ("es nobody", "b"), ("fr canadian", "b")]
    set_event_settings(database, e.app_id, default_language="it")
    assert e.texts(e.run(event("german", name="g"))) == [("en g", "b")]


def test_the_frequency_cap_counts_every_message_of_a_user_in_the_window(database: Database) -> None:
    e = Events(database)
    for n, name in enumerate(("a", "b", "c")):
        put_message(database, e.app_id, name, events=[2000 + n])
    set_event_settings(database, e.app_id, frequency_cap=2, frequency_window=3600)
    e.user("ana")
    e.user("bo")
    first = e.run(*(event("ana", 2000 + n, name="A", count="1") for n in range(3)),
                  event("bo", 2000, name="B", count="1"))
    assert counts(first) == {"notified": 3, "frequency_cap": 1}
    assert counts(e.run(event("ana", 2001, name="A", count="1"))) == {"frequency_cap": 1}
    next_window = NOW + timedelta(hours=1)
    assert counts(e.run(event("ana", 2001, name="A", count="1", at=next_window),
                        now=next_window)) == {"notified": 1}


def test_quiet_hours_hold_until_the_window_ends_or_drop(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id, quiet_hours="hold")
    put_message(database, e.app_id, "dropped", events=[1002], quiet_hours="drop")
    put_message(database, e.app_id, "always", events=[1003])
    set_event_settings(database, e.app_id, quiet_start="22:00", quiet_end="07:00")
    e.user("tokyo", timezone="Asia/Tokyo")  # 12:00 UTC is 21:00 in Tokyo: not quiet yet
    e.user("honolulu", timezone="Pacific/Honolulu")  # 02:00 local: quiet until 07:00 = 17:00 UTC
    e.user("unknown")  # no time zone: no quiet hours
    late = NOW + timedelta(hours=1)  # 22:00 in Tokyo: quiet until 07:00 = 22:00 UTC
    view = e.run(*(event(u, e_id, name="n", count="1", at=late)
                   for u in ("tokyo", "honolulu", "unknown") for e_id in (1001, 1002, 1003)), now=late)
    assert counts(view) == {"notified": 7, "quiet_hours": 2}
    assert view.outcome is not None
    due = sorted(job.run_at for job in (e.queue.get(f"{send}:{n}") for send in view.outcome["sends"]
                                        for n in range(3)) if job is not None)
    expected = [datetime(2030, 1, 15, 17, 0, tzinfo=UTC), datetime(2030, 1, 15, 22, 0, tzinfo=UTC)]
    assert [t for t in due if t > late.timestamp()] == [t.timestamp() for t in expected]


def test_an_expiry_shorter_than_the_quiet_window_drops_the_held_notification(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id, quiet_hours="hold", expiry=3600)
    set_event_settings(database, e.app_id, quiet_start="00:00", quiet_end="08:00")
    e.user("paris", timezone="Europe/Paris")
    night = datetime(2030, 1, 15, 1, 0, tzinfo=UTC)  # 02:00 in Paris: held until 07:00 UTC
    assert counts(e.run(event("paris", name="n", count="1", at=night), now=night)) == {"expired": 1}


def test_a_login_in_the_batch_registers_before_the_batchs_other_events(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id)
    view = e.run(event("new", name="N", count="1"), login("new", language="fr"),
                 login("broken", token="zz"))
    assert counts(view) == {"logins": 1, "notified": 1}
    assert view.outcome is not None
    assert e.texts(view) == [("Bonjour N", "Vous avez 1 nouveaux articles")]


def test_texts_of_ended_event_sends_are_purged_and_running_ones_kept(database: Database) -> None:
    e = Events(database)
    put_message(database, e.app_id)
    e.user("ana")
    e.user("bo")
    first = e.run(event("ana", name="A", count="1"))
    second = e.run(event("bo", name="B", count="1"))
    assert first.outcome is not None
    [send_id] = first.outcome["sends"]
    with database.session() as session:
        cancel_send(session, send_id)
    assert purge_texts(database, older_than=datetime.now(UTC) - timedelta(hours=1)) == 0  # ended just now
    assert purge_texts(database, older_than=datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert e.texts(first) == []
    assert e.texts(second) == [("Hello B", "You have 1 new items")]  # still sending: kept


def test_one_batch_mixing_devices_languages_quiet_hours_and_failures_makes_one_send(
    database: Database,
) -> None:
    e = Events(database)
    put_message(database, e.app_id, quiet_hours="hold")
    set_event_settings(database, e.app_id, quiet_start="22:00", quiet_end="07:00")
    e.user("duo", locale="fr-FR", devices=2)  # two devices, one rendering in French
    e.user("honolulu", timezone="Pacific/Honolulu")  # 02:00 local: held until 17:00 UTC
    e.user("broken")
    e.user("solo")
    view = e.run(event("duo", name="D", count="2"), event("honolulu", name="H", count="1"),
                 event("broken", name="B"), event("solo", name="S", count="3"), event("nobody", name="N"))
    assert counts(view) == {"notified": 3, "render_failed": 1, "unknown_user": 1}
    assert e.texts(view) == [("Bonjour D", "Vous avez 2 nouveaux articles")] * 2 + [
        ("Hello H", "You have 1 new items"), ("Hello S", "You have 3 new items")]
    assert view.outcome is not None
    [send_id] = view.outcome["sends"]
    jobs = [job for job in (e.queue.get(f"{send_id}:{n}") for n in range(3)) if job is not None]
    assert [len(job.payload["device_ids"]) for job in jobs] == [3, 1]
    assert jobs[0].run_at < NOW.timestamp()  # due now (the queue stamps it with the real time)
    assert jobs[1].run_at == datetime(2030, 1, 15, 17, 0, tzinfo=UTC).timestamp()
    with database.connect(write=False) as connection:
        failed = connection.execute(sa.select(deliveries_table.c.status, deliveries_table.c.reason)
                                    .where(deliveries_table.c.send_id == send_id)).all()
    assert [(r.status, r.reason) for r in failed] == [("failed", "MissingParameter:count")]
