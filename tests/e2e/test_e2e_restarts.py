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
without it: Redis comes back empty, and the worker that notices re-plans
the lost deliveries (src/pushgate/planner/replan.py). The results are in docs/scale-out.md §8.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pushgate.registry import Database
from tests.e2e.broadcast_faults import Audience, Outcome, make_audience, run_scenario, set_up_app
from tests.e2e.e2e_helpers import Gateway, GatewayFor, StartServer, StartSimulators
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
    # docs/scale-out.md §5: without persistence Redis comes back empty; the worker notices
    # (the queue's marker key is gone) and re-plans the unfinished sends' lost deliveries.
    Restart("redis-no-persistence", "Redis killed, no persistence (jobs lost, re-planned)", "redis", "redis",
            appendonly=False),
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
    if not restart.appendonly:
        log = server.log_tail(10_000_000)
        assert "the queue lost its data" in log
        assert "re-planned" in log
    assert server.process is not None
    assert server.process.returncode is None, server.log_tail()

