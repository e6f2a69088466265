"""Event batches end to end in-process: submit → the event job → event sends → an APNs simulator."""

from __future__ import annotations

import secrets
from pathlib import Path

from pushgate.registry import Database
from pushgate.service.events import accept_events
from pushgate.simulators.apns import APNsSimulator
from tests.workers.event_helpers import done_batch, event, login, put_message, send_done, services_for
from tests.workers.worker_helpers import eventually, make_app, running_pool, settings_for


async def test_a_login_then_an_event_notifies_the_device_in_the_users_language(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id, _ = make_app(database, apns, 0)
    put_message(database, app_id)
    settings = settings_for(database, apns, ca_file)
    services = services_for(settings, database)
    token = secrets.token_hex(32)
    async with running_pool(settings, database):
        first = await accept_events(services, app_id, [login("1337", token, language="fr-CA")])
        assert first.result.accepted == 1
        await eventually(lambda: done_batch(database, app_id, str(first.batch_id)))
        second = await accept_events(services, app_id, [event("1337", name="Ana", count="3")])
        assert second.result.accepted == 1
        decided = await eventually(lambda: done_batch(database, app_id, str(second.batch_id)))
        assert decided.outcome is not None
        [send_id] = decided.outcome["sends"]
        view = await eventually(lambda: send_done(database, send_id))
    assert (view.targeted, view.sent) == (1, 1)
    [record] = apns.accepted
    assert record["token"] == token
    assert record["payload"]["aps"]["alert"] == {
        "title": "Bonjour Ana", "body": "Vous avez 3 nouveaux articles"}
