"""A real ``pushgate serve`` (API and workers) in the test's event loop, on a real socket.

:func:`pushgate.service.runtime.serve` runs as a task with port 0; the
provider simulators run in the same loop, so a test talks HTTP to the
server over 127.0.0.1 and reads back what the simulators accepted. The
database is the shared ``database`` fixture's (a real SQLite file or a real
PostgreSQL), which the test may also read directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pushgate.registry import Database
from pushgate.server import create_app
from pushgate.service.runtime import serve
from pushgate.service.settings import Settings
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.tls import LocalCA
from tests.e2e.e2e_helpers import credentials_for

ADMIN_TOKEN = "pushkin-admin-token-0123456789abcdef"


@dataclass
class Live:
    """A running server and an HTTP client on it, with one app."""

    url: str
    http: httpx.AsyncClient
    app_id: int
    key: str
    db: Database

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def device(self, **body: Any) -> dict[str, Any]:
        answer = await self.http.post("/v1/devices", json=body, headers=self.auth)
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def wait_done(self, send_id: str, within: float = 60.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            status: dict[str, Any] = (await self.http.get(f"/v1/sends/{send_id}", headers=self.auth)).json()
            if status["status"] == "done":
                return status
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"send {send_id} did not finish: {status}")
            await asyncio.sleep(0.05)


StartLive = Callable[..., Awaitable[Live]]


def database_url(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


@pytest.fixture
async def fcm_sim(local_ca: LocalCA) -> AsyncIterator[FCMSimulator]:
    sim = FCMSimulator(ca=local_ca, accept_any_token=True)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def start_live(database: Database, local_ca: LocalCA, tmp_path: Path) -> AsyncIterator[StartLive]:
    """Start servers on ``database`` (``fcm=sim`` points FCM at a simulator and stores its credentials)."""
    running: list[tuple[asyncio.Event, asyncio.Task[None], httpx.AsyncClient]] = []
    ca_file = tmp_path / "ca.pem"
    local_ca.write_ca(ca_file)

    async def start(fcm: FCMSimulator | None = None, **overrides: Any) -> Live:
        values: dict[str, Any] = {
            "database_url": database_url(database), "admin_token": ADMIN_TOKEN, "host": "127.0.0.1",
            "port": 0, "workers": 1 if fcm is not None else 0, **overrides,
        }
        if fcm is not None:
            values["providers"] = {"fcm": {"base_url": fcm.url, "ca_file": str(ca_file)}}
        settings = Settings.model_validate(values)
        stop = asyncio.Event()
        listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(settings, create_app, handle_signals=False, stop=stop,
                                         on_listening=listening.set_result))
        waiting: set[asyncio.Future[Any]] = {task, listening}
        done, _ = await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what stopped it
        assert listening in done, "the server did not start listening"
        http = httpx.AsyncClient(base_url=listening.result(), timeout=30.0)
        running.append((stop, task, http))
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        created = await http.post("/v1/apps", json={"name": f"game-{len(running)}"}, headers=admin)
        assert created.status_code == 201, created.text
        body = created.json()
        if fcm is not None:
            stored = await http.put(f"/v1/apps/{body['app']['id']}/credentials/fcm",
                                    json=credentials_for({"fcm": fcm})["fcm"], headers=admin)
            assert stored.status_code == 200, stored.text
        return Live(listening.result(), http, body["app"]["id"], body["api_key"]["key"], database)

    yield start
    for stop, task, http in running:
        await http.aclose()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 60)
