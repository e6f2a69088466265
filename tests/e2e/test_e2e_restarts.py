"""PostgreSQL and Redis restarted in the middle of a broadcast: nothing lost, every delivery final.

A ``pushgate serve`` process (one worker) on a PostgreSQL database and,
for ``queue = "redis"``, a Redis of the test's own (tests/e2e/throwaway_servers.py:
the shared servers are never restarted) sends a broadcast to ``DEVICES``
devices over the four provider simulators, plus a few direct sends. When a
third of the broadcast was accepted, the database or Redis is stopped as in
a crash (``pg_ctl stop -m immediate``; ``SIGKILL`` for Redis) and started
again on the same port and files. The checks are
tests/e2e/broadcast_faults.py's — every send ``done``, counters that add up,
one final row per targeted device — and, from the simulators' read-back,
nothing lost: every targeted device got its notification (duplicates are
counted and reported). Redis runs with the persistence docs/scale-out.md §5
requires (``appendonly yes``, ``appendfsync everysec`` or ``always``) and
without it (§5 says what that loses). The results are in docs/scale-out.md §8.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pushgate.registry import Database
from tests.e2e.broadcast_faults import (
    Audience,
    Outcome,
    accepted_at_least,
    make_audience,
    post_sends,
    run_scenario,
    set_up_app,
)
from tests.e2e.e2e_helpers import Gateway, GatewayFor, StartServer, StartSimulators, wait_for
from tests.e2e.throwaway_servers import OwnPostgres, OwnRedis, own_postgres, own_redis

__all__ = ["own_postgres", "own_redis"]  # fixtures

DEVICES = 2000
OUTAGE = 1.0  # seconds the server stays down

pytestmark = [pytest.mark.slow]


@dataclass
class Restart:
    id: str
    name: str
    queue: str
    restarts: str  # "postgres" | "redis"
    appendonly: bool = True
    appendfsync: str = "everysec"


RESTARTS = [
    Restart("postgres-sql-queue", "PostgreSQL restarted, queue = sql", "sql", "postgres"),
    Restart("postgres-redis-queue", "PostgreSQL restarted, queue = redis", "redis", "postgres"),
    Restart("redis-aof-everysec", "Redis killed, appendonly yes, appendfsync everysec", "redis", "redis"),
    Restart("redis-aof-always", "Redis killed, appendonly yes, appendfsync always", "redis", "redis",
            appendfsync="always"),
]


def all_received(audience: Audience, outcome: Outcome) -> None:
    """Nothing lost: every device of the broadcast was accepted by its simulator."""
    received = {token for tag, token in audience.ledger.pairs() if tag == 0}
    missing = [d.token for d in audience.devices if d.token not in received]
    assert not missing, f"{len(missing)} devices never got the broadcast, e.g. {missing[:3]}"
    assert set(outcome.counts) == {"sent"}, outcome


@pytest.mark.parametrize("restart", RESTARTS, ids=lambda r: r.id)
async def test_a_restart_mid_broadcast_loses_nothing(
    restart: Restart, own_postgres: OwnPostgres, own_redis: Callable[..., OwnRedis],
    start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    sims = await start_simulators(fcm={"max_accepted": None})
    audience = make_audience(sims, DEVICES)
    database_url = own_postgres.create_database()
    with Database(database_url) as db:
        db.migrate()
    settings: dict[str, Any] = {}
    redis: OwnRedis | None = None
    if restart.queue == "redis":
        redis = own_redis(appendonly=restart.appendonly, appendfsync=restart.appendfsync)
        settings = {"queue": "redis", "redis_url": redis.url, "redis_key_prefix": "pushgate:"}
    server = await start_server(database_url, sims, **settings)
    api: Gateway = gateway_for(server)
    auth = await set_up_app(api, sims, audience)

    async def crash_and_restart() -> None:
        if restart.restarts == "postgres":
            await asyncio.to_thread(own_postgres.stop, "immediate")
            await asyncio.sleep(OUTAGE)  # the simulators serve meanwhile
            await asyncio.to_thread(own_postgres.start)
        else:
            assert redis is not None
            await asyncio.to_thread(redis.kill)
            await asyncio.sleep(OUTAGE)
            await asyncio.to_thread(redis.start)

    outcome = await run_scenario(database_url, lambda: api, auth, audience, crash_and_restart)
    print("\n" + outcome.row(restart.name))
    all_received(audience, outcome)
    assert server.process is not None
    assert server.process.returncode is None, server.log_tail()


async def quiet(audience: Audience, api: Gateway, auth: dict[str, str], send_id: str,
                for_seconds: float = 3.0, within: float = 60.0) -> dict[str, Any]:
    """The send's status once neither it nor the simulators' read-back changed for ``for_seconds``."""
    deadline = time.monotonic() + within
    last: tuple[int, dict[str, Any]] | None = None
    since = time.monotonic()
    while True:
        now = (audience.ledger.accepted_total(), await api.status(auth, send_id))
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= for_seconds:
            return now[1]
        assert time.monotonic() < deadline, f"still changing after {within} s: {now}"
        await asyncio.sleep(0.2)


async def test_redis_without_persistence_loses_the_jobs_it_held(
    own_postgres: OwnPostgres, own_redis: Callable[..., OwnRedis],
    start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    """What docs/scale-out.md §5 says happens without ``appendonly yes``: a Redis restart empties
    the queue. The delivery jobs it held are gone — their devices are never sent to and the send
    stays ``sending`` with them pending, also after the pushgate processes restart (start-up
    re-plans only sends still fanning out). The worker logs the loss as an error. What was
    recorded was accepted, and nothing twice."""
    sims = await start_simulators(fcm={"max_accepted": None})
    audience = make_audience(sims, DEVICES)
    database_url = own_postgres.create_database()
    with Database(database_url) as db:
        db.migrate()
    redis = own_redis(appendonly=False)
    settings = {"queue": "redis", "redis_url": redis.url, "redis_key_prefix": "pushgate:"}
    server = await start_server(database_url, sims, **settings)
    api = gateway_for(server)
    auth = await set_up_app(api, sims, audience)
    broadcast = (await post_sends(api, auth, audience, None))[0]
    await accepted_at_least(audience.ledger, 0.3 * DEVICES)
    await asyncio.to_thread(redis.kill)
    await asyncio.sleep(OUTAGE)
    await asyncio.to_thread(redis.start)
    # The worker notices at its next housekeeping round (every 5 s) and says what it means.
    await wait_for(lambda: asyncio.sleep(0, server.log_tail(10_000_000)),
                   lambda log: "the queue lost its data" in log, 30, "no worker noticed the loss")
    status = await quiet(audience, api, auth, broadcast.id)

    assert await server.terminate() == 0
    api = gateway_for(await start_server(database_url, sims, **settings))
    after_restart = await quiet(audience, api, auth, broadcast.id)
    received = Counter(audience.ledger.pairs())
    got_it = {token for tag, token in received if tag == 0}
    print(f"\nRedis without persistence, killed at {len(got_it)} of {DEVICES}: the send stays "
          f"{after_restart['status']!r} with {after_restart['pending']} deliveries lost (pending)")
    assert after_restart == status
    assert status["status"] == "sending", status
    assert status["pending"] > 0, "the kill landed after every job had left Redis"
    assert status["sent"] + status["pending"] == status["targeted"] == DEVICES, status
    assert status["sent"] == len(got_it), "every device recorded sent was accepted, and only those"
    assert max(received.values()) == 1, "nothing was sent twice"
