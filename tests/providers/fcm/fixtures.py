"""FCM fixtures: a simulator on a manual clock over real TLS, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pushgate.providers.fcm.client import FCM
from pushgate.simulators._base import ManualClock
from pushgate.simulators._fcm_oauth import GOOGLE_TOKEN_URI, OAuthEndpoint
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.tls import LocalCA

MakeClient = Callable[..., Awaitable[FCM]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def demo_account() -> dict[str, Any]:
    """One RSA service account for the run (key generation is the slow part)."""
    endpoint = OAuthEndpoint()
    return endpoint.account_json(endpoint.create_account("demo-project"), GOOGLE_TOKEN_URI)


@pytest.fixture
async def sim(
    local_ca: LocalCA, clock: ManualClock, demo_account: dict[str, Any]
) -> AsyncIterator[FCMSimulator]:
    # accept_any_token: these tests check the protocol and send to tokens made on the spot;
    # refusing tokens a simulator never issued is tested in tests/simulators/test_simulators_unknown_tokens.py
    simulator = FCMSimulator(ca=local_ca, clock=clock, service_account=demo_account, accept_any_token=True)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def ca_file(local_ca: LocalCA, tmp_path: Path) -> Path:
    return local_ca.write_ca(tmp_path / "ca.pem")


@pytest.fixture
def service_account(sim: FCMSimulator) -> dict[str, Any]:
    account: dict[str, Any] = sim.demo_credentials()["service_account"]
    return account


@pytest.fixture
async def make_client(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, clock: ManualClock
) -> AsyncIterator[MakeClient]:
    """``await make_client(**options)``: an FCM client for the simulator, closed afterwards."""
    made: list[FCM] = []

    async def make(**options: Any) -> FCM:
        options.setdefault("max_retries", 0)
        client = FCM(
            options.pop("service_account", service_account),
            base_url=sim.url,
            ca_file=ca_file,
            clock=clock,
            **options,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
