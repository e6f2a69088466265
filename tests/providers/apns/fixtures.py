"""APNs fixtures: a running simulator on a manual clock, its demo credentials, and an independent client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pushgate.simulators._base import ManualClock
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.tls import LocalCA
from tests.providers.apns.apns_helpers import RawClient, make_jwt


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
async def sim(clock: ManualClock, local_ca: LocalCA) -> AsyncIterator[APNsSimulator]:
    # accept_any_token: these tests check the protocol and send to tokens made on the spot;
    # refusing tokens a simulator never issued is tested in tests/simulators/test_simulators_unknown_tokens.py
    simulator = APNsSimulator(clock=clock, ca=local_ca, accept_any_token=True)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def demo(sim: APNsSimulator) -> dict[str, Any]:
    return sim.demo_credentials()


@pytest.fixture
def ca_file(local_ca: LocalCA, tmp_path: Path) -> Path:
    return local_ca.write_ca(tmp_path / "ca.pem")


@pytest.fixture
async def raw(sim: APNsSimulator, local_ca: LocalCA) -> AsyncIterator[RawClient]:
    async with httpx.AsyncClient(http2=True, http1=False, verify=local_ca.client_context()) as http:
        yield RawClient(http, sim.url)


@pytest.fixture
def auth_headers(demo: dict[str, Any], clock: ManualClock) -> Callable[..., dict[str, str]]:
    """Valid token-auth headers for the demo team, with overrides."""
    token = make_jwt(demo, clock())

    def make(**extra: str) -> dict[str, str]:
        headers = {
            "authorization": f"bearer {token}",
            "apns-topic": demo["topic"],
            "apns-push-type": "alert",
            "apns-id": str(uuid.uuid4()),
        }
        for name, value in extra.items():
            key = name.replace("_", "-")
            if value is None:
                headers.pop(key, None)
            else:
                headers[key] = value
        return headers

    return make
