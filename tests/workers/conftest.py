"""Worker tests: the real database fixtures (tests/conftest.py) plus an APNs simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.tls import LocalCA
from tests.workers.worker_helpers import StartAPNs


@pytest.fixture
def ca_file(local_ca: LocalCA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    local_ca.write_ca(path)
    return path


@pytest.fixture
async def start_apns(local_ca: LocalCA) -> AsyncIterator[StartAPNs]:
    running: list[APNsSimulator] = []

    async def start(**options: Any) -> APNsSimulator:
        # accept_any_token: these tests send to tokens made on the spot; refusing tokens a
        # simulator never issued is tested in tests/simulators/test_simulators_unknown_tokens.py.
        simulator = APNsSimulator(ca=local_ca, **{"accept_any_token": True, **options})
        await simulator.start()
        running.append(simulator)
        return simulator

    yield start
    for simulator in running:
        await simulator.stop()


@pytest.fixture
async def apns(start_apns: StartAPNs) -> APNsSimulator:
    return await start_apns()
