"""``max_credentials_wait``: deliveries behind rejected credentials end failed, not pending for ever."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from pushgate.queue import SqlQueue
from pushgate.registry import Database
from pushgate.registry.pauses import app_pauses
from pushgate.simulators.apns import APNsSimulator
from tests.workers.worker_helpers import eventually, make_app, running_pool, settings_for, start_send, status


def paused(database: Database, app_id: int) -> bool:
    with database.session(write=False) as session:
        return "apns" in app_pauses(session, app_id)


async def test_deliveries_behind_a_revoked_key_fail_with_the_providers_reason_after_the_wait(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 25)
    apns.revoke_key(apns.demo_credentials()["key_id"])
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "to nobody"})
    # The first pause lasts a minute: its end is past the send's start + 5 s, so the
    # devices end failed at once rather than waiting for credentials nobody fixes.
    async with running_pool(settings_for(database, apns, ca_file, max_credentials_wait=5), database):
        view = await eventually(lambda: (v := status(database, send_id)).status == "done" and v)
    assert (view.targeted, view.failed, view.pending) == (25, 25, 0)
    with database.connect(write=False) as connection:
        reasons = set(connection.execute(sa.text("SELECT DISTINCT reason FROM deliveries")).scalars())
    assert reasons == {"InvalidProviderToken"}
    assert paused(database, app_id)  # the pause itself stands: a fix of the credentials lifts it


async def test_without_a_wait_limit_they_stay_pending_for_the_fix(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 25)
    apns.revoke_key(apns.demo_credentials()["key_id"])
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "later"})
    async with running_pool(settings_for(database, apns, ca_file, max_credentials_wait="off"), database):
        await eventually(lambda: paused(database, app_id), what="a pause")
        view = await eventually(lambda: (v := status(database, send_id)).status == "sending" and v)
    assert (view.targeted, view.failed, view.pending) == (25, 0, 25)
