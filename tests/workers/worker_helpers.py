"""Building blocks for in-process worker tests: a real database, a real APNs simulator,
the real queue and a real :class:`WorkerPool` in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pushgate.planner.fanout import enqueue_fanout
from pushgate.queue import SqlQueue
from pushgate.registry import (
    Database,
    DeviceSpec,
    SendStatusView,
    create_app,
    create_send,
    get_send_status,
    register_device,
    set_credentials,
)
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers.pool import WorkerPool


def settings_for(db: Database, apns: APNsSimulator, ca_file: Path, **overrides: Any) -> Settings:
    url = db.url.render_as_string(hide_password=False)
    return Settings.model_validate({
        "database_url": url, "lease_seconds": 5, "worker_concurrency": 20, "chunk_size": 10,
        "providers": {"apns": {"base_url": apns.url, "ca_file": str(ca_file)}}, **overrides,
    })


def apns_credentials(apns: APNsSimulator) -> dict[str, Any]:
    demo = apns.demo_credentials()
    return {k: demo[k] for k in ("key", "key_id", "team_id", "topic", "environment")}


def make_app(db: Database, apns: APNsSimulator | None, devices: int) -> tuple[int, list[tuple[int, str]]]:
    """An app with APNs credentials (unless ``apns`` is None) and ``devices`` devices.

    Returns the app id and the devices as (id, token).
    """
    with db.session() as session:
        app, _ = create_app(session, f"app-{secrets.token_hex(3)}")
        if apns is not None:
            set_credentials(session, app.id, "apns", apns_credentials(apns))
        made = []
        for _ in range(devices):
            token = secrets.token_hex(32)
            made.append((register_device(session, app.id, DeviceSpec("apns", token)).id, token))
        return app.id, made


def start_send(
    db: Database, queue: SqlQueue, app_id: int, notification: dict[str, Any], *,
    now: datetime | None = None,
) -> str:
    with db.session() as session:
        send = create_send(session, app_id, notification, {"all": True}, now=now)
        send_id = send.id
    enqueue_fanout(queue, send_id)
    return send_id


def status(db: Database, send_id: str) -> SendStatusView:
    with db.session(write=False) as session:
        view = get_send_status(session, send_id)
    assert view is not None
    return view


async def eventually(check: Callable[[], Any], within: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` (run in a thread: it may read the database) until it returns truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_pool(settings: Settings, db: Database, **options: Any) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(settings, db, SqlQueue(db), Metrics(), count=options.pop("count", 1), **options)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


StartAPNs = Callable[..., Awaitable[APNsSimulator]]
