"""The scale-out proof (docs/scale-out.md §7): several API processes and workers on one
PostgreSQL and one Redis Streams queue, a process of each kind killed with ``kill -9`` in
the middle of mixed traffic, and nothing lost.

On one machine: two API-only processes (`pushgate serve` with ``PUSHGATE_WORKERS=0``) and
three `pushgate worker` processes share a fresh PostgreSQL database and the Redis queue
(under a key prefix of this test's own, deleted at the end). ``DEVICES`` devices are
spread evenly over the four provider simulators (APNs, FCM, Web Push, WNS). Two
broadcasts (``{"all": true}``) drain while a stream of direct sends — alternately
``{"tokens": [...]}`` and ``{"users": [...]}`` — is posted alternately to both API
processes. When the simulators have accepted ``KILL_AT`` of the broadcasts' deliveries,
one worker and one API process are killed with ``kill -9`` and started again with the
same settings. The kill lands between two posts of the direct stream: a request cut by
the kill has no answer, so no promise to keep (the client posts with an Idempotency-Key
and retries a broken connection once, as a careful client does).

``DEVICES`` is 200,000. The four simulators run in the test's own event loop (and the
Web Push one decrypts every message, RFC 8291), so on a 2-core machine the 2 x 200,000
deliveries plus the direct sends take about eight minutes of wall time (seven of them
draining); the suite's other files run beside it in the other pytest process.

Asserted, from the simulators' read-back (what each provider accepted, per device and
per send — every notification carries its send's tag in its title):

- nothing lost: every targeted device of every send received it at least once, and
  every send reaches ``done`` with ``pending`` 0;
- duplicates only where a kill allows them: a (send, device) received twice is one the
  simulators had accepted, but whose outcome was not recorded, at the kill ("in flight
  at the kill", as tests/e2e/test_e2e_crash.py counts it); their count and percentage
  are printed;
- every send's counters add up: targeted == sent + failed + dead + expired + cancelled;
- a surviving worker took over the killed one's leases, and no outcome write hit a
  PostgreSQL deadlock (registry/outcome_writer.py takes the sends' rows in one order).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from pushgate.registry import Database
from pushgate.simulators._base import Simulator
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.webpush import WebPushSimulator
from pushgate.simulators.wns import WNSSimulator
from tests.e2e.e2e_helpers import (
    Gateway,
    GatewayFor,
    ServerProcess,
    StartServer,
    StartSimulators,
    credentials_for,
    sim_of,
    wait_for,
)
from tests.queue.redis_fixtures import redis_prefix, redis_url

__all__ = ["redis_prefix", "redis_url"]  # fixtures

DEVICES = 200_000  # spread over the four providers
PROVIDERS = ("apns", "fcm", "webpush", "wns")
BROADCASTS = 2
DIRECT_SENDS = 40  # posted while the broadcasts drain, alternately to both API processes
DIRECT_SIZE = 50  # devices (tokens) or users each direct send targets
KILL_AT = 0.45  # fraction of the broadcasts' deliveries accepted when the kills land
# How long the broadcasts may take to drain after the kill: about 4 minutes on an idle 2-core
# machine, so a machine as busy again still passes; a stall fails long before the CI limit.
DRAIN_SECONDS = 900
API_PROCESSES = 2
WORKERS = 3
TAG = re.compile(r"pg-send-(\d+)")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def postgres_url(postgres_databases: Callable[[], str]) -> str:
    url = postgres_databases()
    with Database(url) as db:
        db.migrate()  # as an operator would (`pushgate migrate`)
    return url


@dataclass
class Device:
    provider: str
    token: str  # what the registry stores and what a `tokens` send names
    user: str
    spec: dict[str, Any]


@dataclass
class Send:
    tag: int
    id: str
    targeted: set[str]  # device tokens


@dataclass
class Ledger:
    """What the simulators accepted, as (send tag, device token) pairs in arrival order."""

    sims: dict[str, Simulator]
    wns_uri: dict[str, str]  # channel id → the channel URI registered as the token
    sends: list[Send] = field(default_factory=list)

    def accepted_total(self) -> int:
        return sum(len(sim.accepted) for sim in self.sims.values())

    def pairs(self) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for provider in PROVIDERS:
            out.extend(self._pair(provider, record) for record in self.sims[provider].accepted)
        return out

    def _pair(self, provider: str, record: dict[str, Any]) -> tuple[int, str]:
        if provider == "apns":
            token, text = record["token"], json.dumps(record["payload"])
        elif provider == "fcm":
            token, text = record["to"], json.dumps(record["message"])
        elif provider == "webpush":
            token, text = record["endpoint"], record["plaintext"]
        else:
            token, text = self.wns_uri[record["channel"]], record["body"]
        found = TAG.search(text)
        assert found, f"{provider} accepted a notification without a send tag: {text[:200]}"
        return int(found.group(1)), token


DeviceSpec = tuple[str, str, dict[str, Any]]  # provider, token, the import row (with its user)


def device_specs(sims: dict[str, Simulator], count: int) -> tuple[list[DeviceSpec], dict[str, str]]:
    """``count`` devices the simulators know, in turn on each: (provider, token, import row with
    its ``user``), and the WNS channel URIs by channel name (the ledger reads deliveries by channel)."""
    fcm, webpush = sim_of(sims, "fcm", FCMSimulator), sim_of(sims, "webpush", WebPushSimulator)
    wns = sim_of(sims, "wns", WNSSimulator)
    specs: list[DeviceSpec] = []
    wns_uri: dict[str, str] = {}
    for n in range(count):
        provider = PROVIDERS[n % len(PROVIDERS)]
        if provider == "apns":
            token = secrets.token_hex(32)
            spec: dict[str, Any] = {"provider": "apns", "token": token}
        elif provider == "fcm":
            token = fcm.register_token()
            spec = {"provider": "fcm", "token": token}
        elif provider == "webpush":
            subscription = webpush.subscribe()
            token = subscription["endpoint"]
            spec = {"provider": "webpush", "subscription": subscription}
        else:
            channel = f"channel-{n}"
            token = wns_uri[channel] = wns.channel_uri(channel)
            spec = {"provider": "wns", "token": token}
        specs.append((provider, token, {**spec, "user": f"user-{n}"}))
    return specs, wns_uri


def make_devices(sims: dict[str, Simulator]) -> tuple[list[Device], dict[str, str]]:
    specs, wns_uri = device_specs(sims, DEVICES)
    return [Device(provider, token, spec["user"], spec) for provider, token, spec in specs], wns_uri


def recorded_pairs(database_url: str, tags: dict[str, int]) -> set[tuple[int, str]]:
    """The (send tag, device token) pairs whose outcome is stored."""
    query = sa.text("SELECT r.send_id, d.token FROM deliveries r JOIN devices d ON d.id = r.device_id")
    with Database(database_url) as db, db.connect(write=False) as connection:
        return {(tags[row[0]], row[1]) for row in connection.execute(query) if row[0] in tags}


class Deployment:
    """The five processes, started and restarted with the same settings."""

    def __init__(self, url: str, sims: dict[str, Simulator], start_server: StartServer,
                 gateway_for: GatewayFor, settings: dict[str, Any]) -> None:
        self.url, self.sims, self.settings = url, sims, settings
        self._start, self._gateway_for = start_server, gateway_for
        self.apis: list[ServerProcess] = []
        self.gateways: list[Gateway] = []
        self.workers: list[ServerProcess] = []

    async def start_api(self) -> ServerProcess:
        return await self._start(self.url, self.sims, workers=0, **self.settings)

    async def start_worker(self) -> ServerProcess:
        return await self._start(self.url, self.sims, "worker", **self.settings)

    async def start(self) -> None:
        self.apis = list(await asyncio.gather(*(self.start_api() for _ in range(API_PROCESSES))))
        self.gateways = [self._gateway_for(api) for api in self.apis]
        self.workers = list(await asyncio.gather(*(self.start_worker() for _ in range(WORKERS))))

    async def kill(self, index: int) -> list[int]:
        """``kill -9`` API process and worker ``index``; their exit codes."""
        return list(await asyncio.gather(self.apis[index].kill(), self.workers[index].kill()))

    async def restart(self, index: int) -> None:
        self.apis[index], self.workers[index] = await asyncio.gather(self.start_api(), self.start_worker())
        self.gateways[index] = self._gateway_for(self.apis[index])

    async def terminate(self) -> set[int]:
        return set(await asyncio.gather(*(p.terminate() for p in (*self.apis, *self.workers))))


async def accepted_at_least(ledger: Ledger, wanted: float) -> None:
    async def probe() -> int:
        return ledger.accepted_total()

    await wait_for(probe, lambda count: count >= wanted, 240, "the simulators stopped accepting",
                   interval=0.01)


def notification(tag: int) -> dict[str, Any]:
    return {"title": f"pg-send-{tag:04d}", "body": "scale-out proof"}


async def post_send(
    gateway: Gateway, auth: dict[str, str], tag: int, target: dict[str, Any]
) -> dict[str, Any]:
    """POST a send as a careful client does: with an Idempotency-Key, retried once when the
    connection breaks (a kept-alive connection the server closed as the request left)."""
    key = {"Idempotency-Key": secrets.token_hex(16)}
    try:
        return await gateway.send(auth, notification(tag), target, **key)
    except httpx.TransportError:
        return await gateway.send(auth, notification(tag), target, **key)


async def test_two_api_processes_and_three_workers_survive_kill_9_mid_traffic(
    postgres_url: str, start_simulators: StartSimulators, start_server: StartServer,
    gateway_for: GatewayFor, redis_url: str, redis_prefix: str,
) -> None:
    began = time.monotonic()
    # FCM keeps every accepted message (by default it trims to the newest 100,000).
    sims = await start_simulators(PROVIDERS, fcm={"max_accepted": None})
    devices, wns_uri = make_devices(sims)
    ledger = Ledger(sims, wns_uri)
    deployment = Deployment(postgres_url, sims, start_server, gateway_for,
                            {"queue": "redis", "redis_url": redis_url, "redis_key_prefix": redis_prefix})
    await deployment.start()
    api = deployment.gateways[0]
    app_id, auth = await api.create_app("scale-out-proof")
    for provider, config in credentials_for(sims).items():
        await api.put_credentials(app_id, provider, config)
    await api.import_devices(auth, [device.spec for device in devices])
    every_token = {device.token for device in devices}
    broadcast_total = BROADCASTS * DEVICES
    posting = asyncio.Lock()  # an API process is killed between two posts, never during one
    started = time.monotonic()

    for tag in range(BROADCASTS):
        answer = await deployment.gateways[tag % API_PROCESSES].send(auth, notification(tag), {"all": True})
        assert answer["targeted"] == DEVICES
        ledger.sends.append(Send(tag, answer["id"], every_token))

    async def direct_sends() -> None:
        chooser = secrets.SystemRandom()
        for n in range(DIRECT_SENDS):
            # spread over the drain, paced by what the simulators accepted
            await accepted_at_least(ledger, broadcast_total * 0.8 * n / DIRECT_SENDS)
            tag, chosen = BROADCASTS + n, chooser.sample(devices, DIRECT_SIZE)
            target: dict[str, Any] = (
                {"tokens": [d.token for d in chosen if d.provider != "webpush"]} if n % 2 == 0
                else {"users": [d.user for d in chosen]}
            )
            targeted = {d.token for d in chosen if n % 2 == 1 or d.provider != "webpush"}
            async with posting:
                send = await post_send(deployment.gateways[n % API_PROCESSES], auth, tag, target)
            assert send["targeted"] == len(targeted), send
            ledger.sends.append(Send(tag, send["id"], targeted))

    stream = asyncio.create_task(direct_sends())
    await accepted_at_least(ledger, broadcast_total * KILL_AT)
    async with posting:
        dead_worker = deployment.workers[0].pid
        assert await deployment.kill(0) == [-9, -9]
        await asyncio.sleep(0.5)  # the simulators finish the requests they were handling
        # In flight at the kill: accepted by a simulator, outcome not recorded. The surviving
        # workers' open requests count too: an upper bound of what the kill may re-send.
        at_kill = ledger.pairs()
        tags = {send.id: send.tag for send in ledger.sends}
        in_flight = set(at_kill) - recorded_pairs(postgres_url, tags)
        assert len(at_kill) < broadcast_total, "the broadcasts drained before the kill"
        await deployment.restart(0)
    await stream

    waiter = deployment.gateways[1]
    statuses = [await waiter.wait_done(auth, send.id, within=DRAIN_SECONDS) for send in ledger.sends]
    drained = time.monotonic() - started
    for send, status in zip(ledger.sends, statuses, strict=True):
        assert status["pending"] == 0, status
        assert status["targeted"] == len(send.targeted)
        outcomes = ("sent", "failed", "dead", "expired", "cancelled")
        assert status["targeted"] == sum(status[k] for k in outcomes), status
        assert (status["failed"], status["dead"]) == (0, 0), status

    received = Counter(ledger.pairs())
    for send in ledger.sends:
        lost = {token for token in send.targeted if (send.tag, token) not in received}
        assert not lost, f"send {send.tag} lost {len(lost)} devices, e.g. {sorted(lost)[:3]}"
    twice = {pair for pair, count in received.items() if count > 1}
    deliveries = sum(len(send.targeted) for send in ledger.sends)
    print(f"\n{DEVICES} devices over {len(PROVIDERS)} providers; {len(ledger.sends)} sends "
          f"({BROADCASTS} broadcasts, {DIRECT_SENDS} direct), {deliveries} deliveries; "
          f"{API_PROCESSES} API processes + {WORKERS} workers, one of each killed at {len(at_kill)} accepted")
    print(f"in flight at the kill (accepted, not recorded): {len(in_flight)}; "
          f"duplicates: {len(twice)} ({100 * len(twice) / deliveries:.3f}% of deliveries); "
          f"drained in {drained:.0f} s, {time.monotonic() - began:.0f} s in all")
    assert max(received.values()) <= 2
    assert twice <= in_flight, f"{len(twice - in_flight)} duplicates were not in flight at the kill"
    logs = "".join(p.log_tail(10_000_000) for p in (*deployment.workers, *deployment.apis))
    assert f":{dead_worker}:" in logs, "a worker took over the killed worker's leases"
    assert "deadlock" not in logs, "the workers' outcome writes take the sends' rows in one order"
    assert await deployment.terminate() == {0}
