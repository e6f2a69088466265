"""`kill -9` in the middle of a 10,000-device send: nothing lost, few sent twice.

The promise under test: once the API answered 2xx the notification is in
durable storage and every device gets it — across a hard kill. A device
can get it twice only if its request was in flight, or its outcome not yet
written, at the moment of the kill: at most ``worker_concurrency`` requests
plus the outcome buffer. The simulator's record of accepted pushes is the
ground truth, counted per device token.
"""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from pushgate.registry import Database
from pushgate.workers.constants import FLUSH_EVERY
from tests.e2e.e2e_helpers import GatewayFor, StartServer, StartSimulators, credentials_for, wait_for

DEVICES = 10_000
CONCURRENCY = 100
# In flight at the kill, plus outcomes received but not yet written (the
# buffer that is being written and the one filling meanwhile).
MAX_TWICE = CONCURRENCY + 3 * FLUSH_EVERY
SERVER_SETTINGS: dict[str, Any] = {
    "worker_concurrency": CONCURRENCY, "chunk_size": 100, "lease_seconds": 3, "workers": 1,
}

pytestmark = pytest.mark.slow


async def test_kill_9_mid_send_loses_nothing_and_duplicates_little(
    database_url: str,
    start_simulators: StartSimulators,
    start_server: StartServer,
    gateway_for: GatewayFor,
) -> None:
    sims = await start_simulators(("apns",))
    apns = sims["apns"]
    apns.set_latency(0.02)  # a realistic round trip, so the kill lands mid-send
    server = await start_server(database_url, sims, **SERVER_SETTINGS)
    api = gateway_for(server)
    app_id, auth = await api.create_app("crash")
    await api.put_credentials(app_id, "apns", credentials_for(sims)["apns"])
    tokens = [secrets.token_hex(32) for _ in range(DEVICES)]
    await api.import_devices(auth, [{"provider": "apns", "token": t} for t in tokens])

    send = await api.send(auth, {"title": "Flash sale", "body": "Ends at midnight"}, {"all": True})
    assert send["targeted"] == DEVICES
    await wait_for(lambda: api.status(auth, send["id"]), lambda s: s["sent"] >= DEVICES // 5, 120,
                   "no progress before the kill")
    assert await server.kill() == -9

    with Database(database_url) as db, db.connect(write=False) as connection:
        recorded = connection.execute(
            sa.text("SELECT sent FROM sends WHERE id = :id"), {"id": send["id"]}
        ).scalar_one()
    assert recorded < DEVICES, "the send finished before the kill; the test needs a slower simulator"
    accepted_at_kill = len(apns.accepted)

    restarted = await start_server(database_url, sims, **SERVER_SETTINGS)
    api = gateway_for(restarted)
    status = await api.wait_done(auth, send["id"], within=300)
    assert status["sent"] == DEVICES
    assert (status["failed"], status["dead"], status["pending"]) == (0, 0, 0)

    received = Counter(record["token"] for record in apns.accepted)
    assert set(received) == set(tokens), "every device received the notification"
    assert max(received.values()) <= 2
    twice = sum(1 for count in received.values() if count == 2)
    assert twice <= MAX_TWICE, f"{twice} devices received it twice"
    # A device that got it twice got the same apns-id both times (the kill re-sent it, not a new one).
    ids_by_token: dict[str, set[str]] = {}
    for record in apns.accepted:
        ids_by_token.setdefault(record["token"], set()).add(record["apns_id"])
    assert all(len(ids) == 1 for ids in ids_by_token.values())
    print(f"\nkilled at {recorded} recorded / {accepted_at_kill} accepted; {twice} devices got it twice")
    assert await restarted.terminate() == 0
