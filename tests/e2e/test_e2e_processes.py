"""Process life cycles: SIGTERM with work in flight, and workers in separate processes.

- A graceful stop (SIGTERM) finishes what is in flight, writes its
  outcomes and hands the rest back to the queue: after a restart every
  device has the notification exactly once.
- `pushgate serve --workers 0` (API only) plus two `pushgate worker`
  processes on one SQLite file (or PostgreSQL) deliver a send exactly once
  per device: claims never hand one job to two processes; a worker's own
  metrics endpoint counts what it delivered.
"""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

import httpx
import sqlalchemy as sa

from pushgate.registry import Database
from tests.e2e.e2e_helpers import GatewayFor, StartServer, StartSimulators, provider_app, wait_for

DEVICES = 2_000


async def test_sigterm_drains_in_flight_work_and_loses_nothing(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    settings: dict[str, Any] = {"worker_concurrency": 50, "chunk_size": 50, "workers": 1}
    app = await provider_app("apns", database_url, start_simulators, start_server, gateway_for, **settings)
    sims, server, api, auth = app.sims, app.server, app.api, app.auth
    apns = sims["apns"]
    apns.set_latency(0.05)  # before the send, so the stop lands mid-send
    tokens = [secrets.token_hex(32) for _ in range(DEVICES)]
    await api.import_devices(auth, [{"provider": "apns", "token": t} for t in tokens])

    send = await api.send(auth, {"title": "Closing time"}, {"all": True})
    await wait_for(lambda: api.status(auth, send["id"]), lambda s: s["sent"] >= 200, 60, "no progress")
    assert await server.terminate() == 0

    with Database(database_url) as db, db.connect(write=False) as connection:
        leased = connection.execute(sa.text("SELECT count(*) FROM jobs WHERE status = 'leased'")).scalar_one()
        sent = connection.execute(
            sa.text("SELECT sent FROM sends WHERE id = :id"), {"id": send["id"]}
        ).scalar_one()
    assert leased == 0, "a graceful stop hands back what it holds"
    assert sent == len(apns.accepted), "every accepted push was recorded before the exit"
    assert sent < DEVICES, "the stop came mid-send"

    restarted = await start_server(database_url, sims, **settings)
    status = await gateway_for(restarted).wait_done(auth, send["id"])
    assert status["sent"] == DEVICES
    received = Counter(record["token"] for record in apns.accepted)
    assert set(received) == set(tokens)
    assert set(received.values()) == {1}, "a graceful stop sends nothing twice"
    assert await restarted.terminate() == 0


async def test_api_only_server_and_two_worker_processes_deliver_exactly_once(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    settings: dict[str, Any] = {"worker_concurrency": 100, "chunk_size": 50}
    app = await provider_app("apns", database_url, start_simulators, start_server, gateway_for,
                             workers=0, **settings)
    server, api, auth = app.server, app.api, app.auth
    apns = app.sims["apns"]
    workers = [await start_server(database_url, app.sims, "worker", "--metrics-port", "0", **settings)
               for _ in range(2)]
    tokens = [secrets.token_hex(32) for _ in range(DEVICES)]
    await api.import_devices(auth, [{"provider": "apns", "token": t} for t in tokens])

    send = await api.send(auth, {"title": "Shared work"}, {"all": True})
    status = await api.wait_done(auth, send["id"])
    assert status["sent"] == DEVICES
    received = Counter(record["token"] for record in apns.accepted)
    assert set(received) == set(tokens)
    assert set(received.values()) == {1}
    delivered = 0
    for worker in workers:
        assert "built apns client" in worker.log_tail(100_000), "both worker processes sent"
        assert worker.metrics_url is not None
        async with httpx.AsyncClient() as http:
            scrape = (await http.get(worker.metrics_url)).text
        assert "# TYPE pushgate_queue_depth gauge" in scrape
        delivered += sum(int(float(line.rsplit(" ", 1)[1])) for line in scrape.splitlines()
                         if line.startswith("pushgate_deliveries_total{") and 'status="sent"' in line)
        assert await worker.terminate() == 0
    assert delivered == DEVICES, "the two workers' metrics add up to the send"
    assert await server.terminate() == 0
