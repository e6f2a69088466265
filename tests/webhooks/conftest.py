"""Webhook tests: the real database fixtures (tests/conftest.py), an APNs simulator, a real
HTTPS receiver on loopback, and the API in-process over httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from pushgate.queue import SqlQueue
from pushgate.registry import Database
from pushgate.server import create_app
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.tls import LocalCA
from tests.webhooks.receiver import Receiver


@pytest.fixture
def ca_file(local_ca: LocalCA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    local_ca.write_ca(path)
    return path


@pytest.fixture
async def apns(local_ca: LocalCA) -> AsyncIterator[APNsSimulator]:
    # accept_any_token: the tests send to tokens made on the spot.
    simulator = APNsSimulator(ca=local_ca, accept_any_token=True)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def receiver(local_ca: LocalCA) -> AsyncIterator[Receiver]:
    started = await Receiver(local_ca.server_context(alpn=("http/1.1",))).start()
    yield started
    await started.stop()


@pytest.fixture
async def api_client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API on the test database, with loopback allowed for webhooks (the receiver is local)."""
    settings = Settings.model_validate({"webhook_allow_hosts": ["127.0.0.0/8", "::1"]})
    app = create_app(settings, database=database, queue=SqlQueue(database), metrics=Metrics())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pushgate.test") as client:
        yield client
