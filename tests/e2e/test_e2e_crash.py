"""`kill -9` in the middle of a send: nothing lost, and only what was in flight sent twice.

The promise under test: once the API answered 2xx the notification is in
durable storage and every device gets it — across a hard kill. A device
can get it twice only if it was in flight at the moment of the kill:
handed to the provider and its outcome not yet written. Each delivery job
holds such devices in its in-flight window (workers/window.py), and the
windows of a process add up to at most ``worker_concurrency``. The
simulator's record of accepted pushes is the ground truth, counted per
device token.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa

from pushgate.registry import Database
from pushgate.simulators._base import Simulator
from tests.e2e.e2e_helpers import (
    GatewayFor,
    ServerProcess,
    StartServer,
    StartSimulators,
    credentials_for,
    provider_app,
    wait_for,
)

DEVICES = 10_000
CONCURRENCY = 100
# In flight at the kill: the windows, whose slots are held until outcomes are written.
MAX_TWICE = CONCURRENCY
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
    app = await provider_app("apns", database_url, start_simulators, start_server, gateway_for,
                             app_name="crash", **SERVER_SETTINGS)
    sims, server, api, auth = app.sims, app.server, app.api, app.auth
    apns = sims["apns"]
    apns.set_latency(0.02)  # a realistic round trip, so the kill lands mid-send
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


# -- every process killed twice during a broadcast, default settings --------------------------

BROADCAST_DEVICES = 100_000  # about a minute on SQLite, two and a half on PostgreSQL (2 cores)
KILL_AT = (0.25, 0.6)  # fractions of the devices the simulator accepted when each kill lands


async def accepted_count(sim: Simulator) -> int:
    return len(sim.accepted)


def recorded_tokens(database_url: str, send_id: str) -> set[str]:
    """The devices whose outcome of ``send_id`` is stored."""
    query = sa.text("SELECT d.token FROM deliveries r JOIN devices d ON d.id = r.device_id"
                    " WHERE r.send_id = :id")
    with Database(database_url) as db, db.connect(write=False) as connection:
        return {row[0] for row in connection.execute(query, {"id": send_id})}


def at_least(wanted: float, count: int) -> bool:
    return count >= wanted


async def test_kill_9_of_every_process_duplicates_only_what_was_in_flight(
    database_url: str,
    start_simulators: StartSimulators,
    start_server: StartServer,
    gateway_for: GatewayFor,
) -> None:
    """`pushgate serve` with its sender workers, killed twice mid-broadcast with default
    settings; the simulator's read-back says which devices got the notification twice."""
    sims = await start_simulators(("apns",))
    apns = sims["apns"]

    async def start_all() -> list[ServerProcess]:
        return [await start_server(database_url, sims)]  # the default deployment: one process

    processes = await start_all()
    api = gateway_for(processes[0])
    app_id, auth = await api.create_app("crash-all")
    await api.put_credentials(app_id, "apns", credentials_for(sims)["apns"])
    tokens = [secrets.token_hex(32) for _ in range(BROADCAST_DEVICES)]
    await api.import_devices(auth, [{"provider": "apns", "token": t} for t in tokens])

    send = await api.send(auth, {"title": "Flash sale", "body": "Ends at midnight"}, {"all": True})
    kills: list[tuple[int, int]] = []  # (requests the simulator accepted before it, in flight)
    seen: set[str] = set()  # devices the simulator accepted before the last kill
    mark = 0  # requests the simulator accepted before the last kill
    for fraction in KILL_AT:
        # Watched at the simulator (in this event loop), not through the busy API, so the
        # kill lands where it is meant to.
        await wait_for(partial(accepted_count, apns), partial(at_least, BROADCAST_DEVICES * fraction),
                       120, "no progress", interval=0.005)
        assert set(await asyncio.gather(*(p.kill() for p in processes))) == {-9}
        await asyncio.sleep(0.5)  # the simulator finishes the requests it was handling
        # In flight at the kill: handed to the provider (the simulator accepted it) and not
        # recorded durably. That is what a kill may re-send; anything beyond is a bug.
        mark, before = len(apns.accepted), mark
        accepted = {record["token"] for record in apns.accepted[before:mark]} - seen
        in_flight = accepted - recorded_tokens(database_url, send["id"])
        seen |= accepted
        kills.append((mark, len(in_flight)))
        processes = await start_all()
        api = gateway_for(processes[0])

    status = await api.wait_done(auth, send["id"], within=120)
    assert (status["sent"], status["failed"], status["pending"]) == (BROADCAST_DEVICES, 0, 0)
    first: dict[str, int] = {}
    received: Counter[str] = Counter()
    for index, record in enumerate(apns.accepted):
        first.setdefault(record["token"], index)
        received[record["token"]] += 1
    assert set(received) == set(tokens), "every device received the notification"
    per_kill: list[tuple[int, int]] = []  # (devices that got it twice, in flight at the kill)
    start = 0
    for n, (accepted_before, open_at_kill) in enumerate(kills, 1):
        twice = sum(1 for token, count in received.items()
                    if count > 1 and start <= first[token] < accepted_before)
        print(f"\nkill {n}: {twice} devices got it twice; {open_at_kill} in flight at the kill "
              f"(accepted, not recorded); {accepted_before} accepted before it")
        per_kill.append((twice, open_at_kill))
        start = accepted_before
    total = sum(twice for twice, _ in per_kill)
    print(f"{total} duplicates over {BROADCAST_DEVICES} devices ({100 * total / BROADCAST_DEVICES:.3f}%)")
    for twice, open_at_kill in per_kill:
        assert twice <= open_at_kill, "a kill re-sent more than was in flight"
        # What was in flight is bounded by the windows (worker_concurrency, default 1,000).
        # How far below depends on rate x write latency: 0.03-0.08% of the devices over both
        # kills on an idle 2-core machine, up to 0.36% with the whole suite running beside it,
        # so the 0.1% goal is printed above rather than asserted here.
        assert open_at_kill <= 1000
    log = "".join(p.log_tail(1_000_000) for p in processes)
    assert "lease of" in log, "the restarted workers said which leases they took over"
    assert "reclaimed" in log
    assert set(await asyncio.gather(*(p.terminate() for p in processes))) == {0}


# -- a direct send: the API stores its delivery job; a kill before any worker ran it -------------


async def test_a_direct_send_killed_before_its_delivery_is_delivered_after_restart(
    database_url: str,
    start_simulators: StartSimulators,
    start_server: StartServer,
    gateway_for: GatewayFor,
) -> None:
    # A send to named tokens is fanned out in the API's transaction (planner/fanout.py,
    # fan_out_now): its 202 means its delivery job is durable. With no workers in the
    # server nothing runs it before the kill; the restarted server must.
    app = await provider_app("apns", database_url, start_simulators, start_server, gateway_for,
                             app_name="login-codes", workers=0)
    sims, api_only, api, auth = app.sims, app.server, app.api, app.auth
    apns = sims["apns"]
    token = secrets.token_hex(32)
    await api.import_devices(auth, [{"provider": "apns", "token": token}])
    send = await api.send(auth, {"title": "Your code", "body": "123456"}, {"tokens": [token]})
    assert (send["status"], send["targeted"]) == ("sending", 1)
    assert await api_only.kill() == -9
    assert apns.accepted == []

    restarted = await start_server(database_url, sims, workers=1)
    api = gateway_for(restarted)
    status = await api.wait_done(auth, send["id"], within=60)
    assert (status["sent"], status["failed"], status["pending"]) == (1, 0, 0)
    assert [record["token"] for record in apns.accepted] == [token]
    assert await restarted.terminate() == 0
