"""Scale-out on PostgreSQL + Redis: `pushgate serve` with no workers (API only) and a separate
`pushgate worker`, sharing the Redis Streams queue (docs/scale-out.md).

- A broadcast goes from the API's outbox through Redis to the worker and reaches every device
  of the APNs simulator exactly once.
- A worker killed with ``kill -9`` leaves its leases in Redis; another worker takes them over
  when they expire (naming the dead holder) and finishes the send.
- The worker survives Redis dropping its connections mid-send (``CLIENT KILL``, what a Redis
  restart or a network cut does to a client) and finishes the send, still exactly once. The
  shared Redis server itself is never restarted: other test runs use it.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from pushgate.registry import Database
from tests.e2e.e2e_helpers import (
    GatewayFor,
    ProviderApp,
    ServerProcess,
    StartServer,
    StartSimulators,
    provider_app,
    wait_for,
)
from tests.queue.redis_fixtures import redis_prefix, redis_url

__all__ = ["redis_prefix", "redis_url"]  # fixtures

DEVICES = 2_000
pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_url(postgres_databases: Callable[[], str]) -> str:
    url = postgres_databases()
    with Database(url) as db:
        db.migrate()  # as an operator would (`pushgate migrate`)
    return url


async def _deployment(
    postgres_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
    redis_url: str, redis_prefix: str, **settings: Any,
) -> tuple[ProviderApp, ServerProcess, list[str]]:
    """The APNs simulator with an API-only server and an app holding its credentials, one worker,
    and DEVICES devices."""
    shared = {"queue": "redis", "redis_url": redis_url, "redis_key_prefix": redis_prefix, **settings}
    app = await provider_app("apns", postgres_url, start_simulators, start_server, gateway_for,
                             workers=0, **shared)
    worker = await start_server(postgres_url, app.sims, "worker", **shared)
    tokens = [secrets.token_hex(32) for _ in range(DEVICES)]
    await app.api.import_devices(app.auth, [{"provider": "apns", "token": t} for t in tokens])
    return app, worker, tokens


def _outbox_rows(postgres_url: str) -> int:
    with Database(postgres_url) as db, db.connect(write=False) as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM queue_outbox")).scalar_one())


async def test_api_only_server_and_a_worker_deliver_a_broadcast_through_redis_exactly_once(
    postgres_url: str, start_simulators: StartSimulators, start_server: StartServer,
    gateway_for: GatewayFor, redis_url: str, redis_prefix: str,
) -> None:
    app, worker, tokens = await _deployment(
        postgres_url, start_simulators, start_server, gateway_for, redis_url, redis_prefix,
        worker_concurrency=100, chunk_size=100,
    )
    apns, server, api, auth = app.sims["apns"], app.server, app.api, app.auth
    send = await api.send(auth, {"title": "Through Redis"}, {"all": True})
    status = await api.wait_done(auth, send["id"])
    assert status["sent"] == DEVICES
    received = Counter(record["token"] for record in apns.accepted)
    assert set(received) == set(tokens)
    assert set(received.values()) == {1}
    assert "built apns client" in worker.log_tail(100_000), "the worker process sent"
    assert "built apns client" not in server.log_tail(100_000), "the API process did not"

    assert _outbox_rows(postgres_url) == 0  # the fan-out job left the outbox for Redis
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert set(client.hvals(f"{redis_prefix}depth")) == {"0"}  # nothing pending
        assert client.zcard(f"{redis_prefix}done:fanout") == 1
        assert client.zcard(f"{redis_prefix}done:deliver:apns") == DEVICES // 100
    finally:
        client.close()
    assert await worker.terminate() == 0
    assert await server.terminate() == 0


async def test_the_worker_survives_redis_dropping_its_connections(
    postgres_url: str, start_simulators: StartSimulators, start_server: StartServer,
    gateway_for: GatewayFor, redis_url: str, redis_prefix: str,
) -> None:
    app, worker, tokens = await _deployment(
        postgres_url, start_simulators, start_server, gateway_for, redis_url, redis_prefix,
        worker_concurrency=50, chunk_size=50, lease_seconds=3,
    )
    apns, server, api, auth = app.sims["apns"], app.server, app.api, app.auth
    apns.set_latency(0.05)  # a send that lasts long enough to be cut in the middle
    client = redis.Redis.from_url(redis_url, decode_responses=True)

    def worker_connections() -> list[str]:
        return [c["id"] for c in client.client_list() if c["name"].endswith(f":{worker.pid}")]

    try:
        send = await api.send(auth, {"title": "Hold the line"}, {"all": True})
        for cut in (200, 1000):

            def reached(status: dict[str, Any], cut: int = cut) -> bool:
                return int(status["sent"]) >= cut

            await wait_for(lambda: api.status(auth, send["id"]), reached, 60, "no progress")
            killed = worker_connections()
            assert killed, "the worker holds named Redis connections"
            for client_id in killed:
                client.client_kill_filter(_id=client_id)
        status = await api.wait_done(auth, send["id"])
        assert not set(worker_connections()) & set(killed), "the worker reconnected"
    finally:
        client.close()
    assert status["sent"] == DEVICES
    assert worker.process is not None
    assert worker.process.returncode is None, "the worker is still running"
    received = Counter(record["token"] for record in apns.accepted)
    assert set(received) == set(tokens)
    assert set(received.values()) == {1}, "a dropped connection sends nothing twice"
    assert await worker.terminate() == 0
    assert await server.terminate() == 0


async def test_a_killed_workers_jobs_are_reclaimed_from_redis_by_another(
    postgres_url: str, start_simulators: StartSimulators, start_server: StartServer,
    gateway_for: GatewayFor, redis_url: str, redis_prefix: str,
) -> None:
    settings = {"worker_concurrency": 50, "chunk_size": 50, "lease_seconds": 3}
    app, doomed, tokens = await _deployment(
        postgres_url, start_simulators, start_server, gateway_for, redis_url, redis_prefix, **settings,
    )
    apns, server, api, auth = app.sims["apns"], app.server, app.api, app.auth
    apns.set_latency(0.05)  # before the send, so the kill lands mid-send
    survivor = await start_server(postgres_url, app.sims, "worker", queue="redis", redis_url=redis_url,
                                  redis_key_prefix=redis_prefix, **settings)
    send = await api.send(auth, {"title": "One down"}, {"all": True})
    await wait_for(lambda: api.status(auth, send["id"]), lambda s: s["sent"] >= 400, 60, "no progress")
    assert await doomed.kill() == -9

    status = await api.wait_done(auth, send["id"])
    assert status["sent"] == DEVICES
    reclaims = [line for line in survivor.log_tail(200_000).splitlines() if "reclaimed" in line]
    assert any(f":{doomed.pid}:" in line for line in reclaims), "the survivor took the dead one's leases"
    received = Counter(record["token"] for record in apns.accepted)
    assert set(received) == set(tokens)
    twice = sum(1 for count in received.values() if count > 1)
    assert max(received.values()) <= 2
    assert twice <= settings["worker_concurrency"], "only what the dead worker had in flight went twice"
    assert await survivor.terminate() == 0
    assert await server.terminate() == 0
