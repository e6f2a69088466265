"""After a VAPID key rotation: the subscriptions made with the old key are settled one by one,
and the app's Web Push lane is not paused for the browsers subscribed with the new key.

A subscription is restricted to the application server key it was made with (RFC 8292 §4.2);
its push service refuses every other key. Those refusals are about one subscription, not the
app's credentials (docs/protocols/webpush.md §6), so they must not pause the lane the way a
refused key or ``sub`` does (tests/workers/test_workers_pauses.py,
tests/workers/test_workers_credentials_wait.py). Real sockets: the Web Push simulator over
TLS, a running worker pool and the real queue and database.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from pushgate.crypto.vapid import VapidKey
from pushgate.queue import SqlQueue
from pushgate.registry import Database, DeviceSpec, create_app, register_device, set_credentials
from pushgate.registry.models import devices_table
from pushgate.registry.pauses import app_pauses
from pushgate.registry.validation import ValidationPolicy
from pushgate.service.settings import Settings
from pushgate.simulators._server import SimAction, SimRequest, SimResponse
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.webpush import WebPushSimulator
from tests.workers.worker_helpers import eventually, running_pool, start_send, status

SUBJECT = "mailto:ops@example.com"


class RotationWebPush(WebPushSimulator):
    """The Web Push simulator, noting the status of every push it answers.

    With ``bare_refusals`` it plays a push service that names no reason: a key
    mismatch is a bare 403. With ``in_flight`` it answers nothing until that
    many pushes arrived, then the refusals; its 201s wait for :attr:`release`
    (set by the test once the worker has taken the refusals in), so refusals
    are the first answers while accepted pushes are still in flight.
    """

    def __init__(self, *, bare_refusals: bool = False, in_flight: int = 0, **options: Any) -> None:
        super().__init__(**options)
        self.bare_refusals = bare_refusals
        self.in_flight = in_flight
        self.answers: list[int] = []
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        if not in_flight:
            self.arrived.set()
            self.release.set()

    async def handle(self, request: SimRequest) -> SimAction:
        answer = await super().handle(request)
        if isinstance(answer, SimResponse) and request.path.startswith("/wpush/"):
            if self.requests >= self.in_flight:
                self.arrived.set()
            await self.arrived.wait()
            if answer.status in (401, 403) and self.bare_refusals:
                answer = SimResponse(403)
            elif answer.status == 201:
                await self.release.wait()
            self.answers.append(answer.status)
        return answer


@pytest.fixture
async def start_webpush(local_ca: LocalCA) -> AsyncIterator[Any]:
    running: list[RotationWebPush] = []

    async def start(mode: str = "autopush", **options: Any) -> RotationWebPush:
        simulator = RotationWebPush(ca=local_ca, mode=mode, **options)
        await simulator.start()
        running.append(simulator)
        return simulator

    yield start
    for simulator in running:
        await simulator.stop()


def webpush_settings(db: Database, sim: WebPushSimulator, ca_file: Path, concurrency: int) -> Settings:
    return Settings.model_validate({
        "database_url": db.url.render_as_string(hide_password=False), "lease_seconds": 5,
        "worker_concurrency": concurrency, "chunk_size": 50,
        "providers": {"webpush": {"allowed_hosts": [urlsplit(sim.url).netloc], "ca_file": str(ca_file)}},
    })


def store_key(db: Database, app_id: int, key: VapidKey) -> None:
    with db.session() as session:
        set_credentials(session, app_id, "webpush", {"vapid_private_key": key.private_raw(),
                                                      "vapid_subject": SUBJECT})


def subscribe(db: Database, sim: WebPushSimulator, app_id: int, key: VapidKey, count: int) -> list[int]:
    """``count`` browsers subscribed with ``key`` and registered, in that order (ascending ids)."""
    policy = ValidationPolicy.with_hosts(webpush=[urlsplit(sim.url).netloc])
    with db.session() as session:
        return [
            register_device(session, app_id, DeviceSpec.from_subscription(
                sim.subscribe(key.application_server_key)), policy=policy).id
            for _ in range(count)
        ]


def rotated_app(
    db: Database, sim: WebPushSimulator, *, old: int, new: int
) -> tuple[int, list[int], list[int], VapidKey]:
    """An app whose VAPID key was replaced: ``old`` subscriptions made (and registered first)
    with the key it had, ``new`` ones with the key it has now (also returned)."""
    with db.session() as session:
        app_id = create_app(session, f"app-{secrets.token_hex(3)}")[0].id
    previous, current = VapidKey.generate(), VapidKey.generate()
    store_key(db, app_id, previous)
    old_ids = subscribe(db, sim, app_id, previous, old)
    store_key(db, app_id, current)  # the rotation
    return app_id, old_ids, subscribe(db, sim, app_id, current, new), current


def webpush_paused(db: Database, app_id: int) -> bool:
    with db.session(write=False) as session:
        return "webpush" in app_pauses(session, app_id)


def deliveries(db: Database, send_id: str) -> dict[int, tuple[str, str | None]]:
    with db.connect(write=False) as connection:
        rows = connection.execute(
            sa.text("SELECT device_id, status, reason FROM deliveries WHERE send_id = :s"), {"s": send_id})
        return {row.device_id: (row.status, row.reason) for row in rows}


def active(db: Database, device_ids: list[int]) -> list[bool]:
    table = devices_table
    with db.connect(write=False) as connection:
        query = sa.select(table.c.active).where(table.c.id.in_(device_ids)).order_by(table.c.id)
        return [bool(value) for value in connection.execute(query).scalars()]


async def done(db: Database, send_id: str) -> Any:
    return await eventually(lambda: (v := status(db, send_id)).status == "done" and v, what="the send done")


@pytest.mark.parametrize(("mode", "reason"), [("apple", "VapidPkHashMismatch"),
                                               ("autopush", "VapidKeyMismatch"),
                                               ("fcm", "VapidKeyMismatch")])
async def test_old_key_subscriptions_end_dead_and_the_new_ones_are_sent_without_a_pause(
    database: Database, start_webpush: Any, ca_file: Path, mode: str, reason: str
) -> None:
    sim: RotationWebPush = await start_webpush(mode)
    app_id, old, new, current = rotated_app(database, sim, old=3, new=4)
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "after the rotation"})
    # One request at a time, devices in id order: the job's first answer is a mismatch.
    async with running_pool(webpush_settings(database, sim, ca_file, concurrency=1), database):
        view = await done(database, send_id)
        assert sim.answers[0] in (401, 403)
        assert (view.targeted, view.sent, view.dead, view.failed, view.pending) == (7, 4, 3, 0, 0)
        outcomes = deliveries(database, send_id)
        assert {outcomes[d] for d in old} == {("dead", reason)}
        assert {outcomes[d][0] for d in new} == {"sent"}
        assert active(database, old) == [False] * 3  # the SDK subscribes those browsers again
        assert not webpush_paused(database, app_id)
        # A browser subscribing with the new key afterwards is sent to with the next send.
        (fresh,) = subscribe(database, sim, app_id, current, 1)
        second = start_send(database, SqlQueue(database), app_id, {"title": "next"})
        view = await done(database, second)
        assert (view.targeted, view.sent, view.pending) == (5, 5, 0)
        assert deliveries(database, second)[fresh] == ("sent", None)
    assert not webpush_paused(database, app_id)
    titles = [[r["payload"]["title"] for r in sim.inbox(sub.id)] for sub in sim.subscriptions.values()]
    assert titles == [[]] * 3 + [["after the rotation", "next"]] * 4 + [["next"]]


async def test_a_bare_refusal_from_a_service_that_accepted_the_key_fails_that_device_alone(
    database: Database, start_webpush: Any, ca_file: Path
) -> None:
    # The service names no reason, so only what it accepted tells: the refusals come back
    # first and stop the job; the 201s in flight then prove the key at this push service,
    # so the refusals are the subscriptions' own, no pause is stored and the devices the
    # stop held back are sent at once.
    sim: RotationWebPush = await start_webpush(bare_refusals=True, in_flight=4)
    app_id, old, _, _ = rotated_app(database, sim, old=2, new=6)
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "after the rotation"})
    # worker_concurrency 8 over two jobs: four requests per job in flight.
    async with running_pool(webpush_settings(database, sim, ca_file, concurrency=8), database) as pool:
        # Four pushes in flight: the two refusals are answered first and stop the
        # job (the pause book notes a pause at once); then the two accepted pushes are answered.
        await eventually(lambda: pool.ctx.pauses.generation > 0, what="the refusal taken in")
        sim.release.set()
        view = await done(database, send_id)
    assert sim.answers[:4] == [403, 403, 201, 201]  # the refusals came back first
    assert (view.targeted, view.sent, view.failed, view.dead, view.pending) == (8, 6, 2, 0, 0)
    outcomes = deliveries(database, send_id)
    assert {outcomes[d] for d in old} == {("failed", "VapidKeyMismatch")}
    assert active(database, old) == [True, True]  # inferred, not said: the devices are kept
    assert not webpush_paused(database, app_id)
    assert sorted(len(sim.inbox(sub.id)) for sub in sim.subscriptions.values()) == [0, 0] + [1] * 6


async def test_a_bare_refusal_with_nothing_accepted_still_pauses_the_lane(
    database: Database, start_webpush: Any, ca_file: Path
) -> None:
    # Nothing proves the key at this push service: the refusal may be the app's key or its
    # ``sub``, so the lane is paused and the devices wait, as for any refused credentials.
    sim: RotationWebPush = await start_webpush(bare_refusals=True)
    app_id, old, _, _ = rotated_app(database, sim, old=3, new=0)
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "to old subscriptions"})
    async with running_pool(webpush_settings(database, sim, ca_file, concurrency=1), database):
        await eventually(lambda: webpush_paused(database, app_id), what="a pause")
        view = status(database, send_id)
    assert (view.targeted, view.failed, view.dead, view.pending) == (3, 0, 0, 3)
    assert active(database, old) == [True] * 3
