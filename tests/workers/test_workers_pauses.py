"""Paused (app, provider) pairs: how long, against which credentials, and what lifts them."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from pushgate.planner import deliver_queue
from pushgate.queue import Job, JobStatus, SqlQueue
from pushgate.registry import Database, get_credentials, set_credentials
from pushgate.registry.pauses import (
    MAX_PAUSE_SECONDS,
    PAUSE_KEY,
    ProviderPause,
    all_pauses,
    app_pauses,
    clear_pause,
    pause_length,
    pause_provider,
)
from pushgate.workers import pausebook
from pushgate.workers.pausebook import PauseBook, wake_deferred
from tests.workers.worker_helpers import make_app

CREDS = {"client_id": "ms-app://s-1-15-2-x", "client_secret": "s3cret"}


def _app_with_wns(database: Database) -> int:
    app_id, _ = make_app(database, None, 0)
    with database.session() as session:
        set_credentials(session, app_id, "wns", CREDS)
    return app_id


def _version(database: Database, app_id: int) -> datetime:
    with database.session(write=False) as session:
        row = get_credentials(session, app_id, "wns")
        assert row is not None
        return row.updated_at


def test_pauses_double_per_failed_probe_up_to_an_hour() -> None:
    assert [pause_length(n) for n in (1, 2, 3)] == [60.0, 120.0, 240.0]
    assert pause_length(30) == MAX_PAUSE_SECONDS


def test_a_pause_is_recorded_once_while_it_runs_and_grows_after_it(database: Database) -> None:
    app_id = _app_with_wns(database)
    version = _version(database, app_id)
    now = 1_000_000.0
    with database.session() as session:
        first = pause_provider(session, app_id, "wns", "InvalidClient", version=version, now=now)
    assert first is not None
    assert (first.strikes, first.until) == (1, now + 60)
    with database.session() as session:  # other jobs report the same failure: same pause
        again = pause_provider(session, app_id, "wns", "InvalidClient", version=version, now=now + 5)
    assert again == first
    with database.session() as session:  # the probe after the pause failed too
        second = pause_provider(session, app_id, "wns", "InvalidClient", version=version, now=now + 61)
    assert second is not None
    assert (second.strikes, second.until) == (2, now + 61 + 120)
    with database.session(write=False) as session:
        assert app_pauses(session, app_id)["wns"] == second
        assert all_pauses(session) == [second]
        stored = get_credentials(session, app_id, "wns")
        assert stored is not None
        assert stored.config["client_secret"] == CREDS["client_secret"]  # the credentials are untouched
    with database.session() as session:
        assert clear_pause(session, app_id, "wns")
        assert not clear_pause(session, app_id, "wns")
    with database.session(write=False) as session:
        assert app_pauses(session, app_id) == {}


def test_new_credentials_lift_a_pause_and_cannot_be_paused_by_old_failures(database: Database) -> None:
    app_id = _app_with_wns(database)
    old = _version(database, app_id)
    with database.session() as session:
        assert pause_provider(session, app_id, "wns", "InvalidClient", version=old, now=time.time())
    with database.session() as session:
        set_credentials(session, app_id, "wns", {**CREDS, "client_secret": "fixed"})
    with database.session() as session:
        assert app_pauses(session, app_id) == {}
        row = get_credentials(session, app_id, "wns")
        assert row is not None
        assert PAUSE_KEY not in row.config
        # A worker still holding a client of the old credentials reports a failure: ignored.
        stale = pause_provider(session, app_id, "wns", "InvalidClient", version=old, now=time.time())
        assert stale is None


def test_waking_deferred_jobs_moves_only_jobs_deferred_by_a_pause(database: Database) -> None:
    queue = SqlQueue(database)
    later = time.time() + 3600
    payload = {"send_id": "s", "app_id": 1, "provider": "wns", "device_ids": [1]}
    queue.enqueue([
        Job("s:0~1.1P", deliver_queue("wns"), payload, run_at=later),  # deferred by a pause
        Job("s:1~2.0R", deliver_queue("wns"), payload, run_at=later),  # a retry honouring Retry-After
        Job("s:2~1.1P", deliver_queue("apns"), payload, run_at=later),  # another provider's pause
        Job("t:0~1.1P", deliver_queue("wns", direct=True), payload, run_at=later),  # the direct lane too
    ])
    assert wake_deferred(queue, "wns", time.time()) == 2
    queues = [deliver_queue("wns"), deliver_queue("apns"), deliver_queue("wns", direct=True)]
    claimed = queue.claim(queues, limit=10, lease_seconds=5, worker="w")
    assert sorted(job.id for job in claimed) == ["s:0~1.1P", "t:0~1.1P"]
    retry = queue.get("s:1~2.0R")
    assert retry is not None
    assert retry.status is JobStatus.QUEUED
    assert retry.due_at == later


async def test_a_pause_noted_while_a_refresh_reads_is_not_taken_for_a_lifted_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A job notes a provisional pause the moment a provider rejects the credentials,
    # before the pause is stored. A refresh whose read began earlier sees no stored
    # pause; it must not drop the fresh one (the process would go on sending).
    app_id = _app_with_wns(database)
    book = PauseBook(database, SqlQueue(database))
    provisional = ProviderPause(app_id, "wns", "InvalidClient", time.time(), time.time() + 60, 0)
    real_read = pausebook._read_pauses

    def read_then_note(db: Database) -> list[ProviderPause]:
        stored = real_read(db)  # the stored state: no pause yet
        book.note(provisional)  # meanwhile, on the event loop, a job notes one
        return stored

    monkeypatch.setattr(pausebook, "_read_pauses", read_then_note)
    await book.refresh()
    assert book.active(app_id, "wns") == provisional

    monkeypatch.setattr(pausebook, "_read_pauses", real_read)
    await book.refresh()  # the next read is newer than the note: the stored state wins
    assert book.active(app_id, "wns") is None
