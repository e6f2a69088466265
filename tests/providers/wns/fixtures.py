"""WNS fixtures: a simulator on a real TLS socket (HTTP/1.1) and clients for it.

Time is a :class:`ManualClock` shared by the simulator and the client, so
token expiry is moved by hand, never waited for.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from pushgate.providers.wns.client import WNS
from pushgate.simulators._base import ManualClock
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.wns import WNSSimulator

MakeWNS = Callable[..., WNS]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
async def sim(local_ca: LocalCA, clock: ManualClock) -> AsyncIterator[WNSSimulator]:
    # accept_any_token: these tests check the protocol and send to tokens made on the spot;
    # refusing tokens a simulator never issued is tested in tests/simulators/test_simulators_unknown_tokens.py
    simulator = WNSSimulator(clock=clock, ca=local_ca, accept_any_token=True)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def client_context(local_ca: LocalCA) -> ssl.SSLContext:
    return local_ca.client_context(alpn=("http/1.1",))


@pytest.fixture
async def make_wns(
    sim: WNSSimulator, clock: ManualClock, client_context: ssl.SSLContext
) -> AsyncIterator[MakeWNS]:
    """Build clients for the simulator's demo app; all are closed after the test."""
    made: list[WNS] = []

    def make(**overrides: Any) -> WNS:
        creds = sim.demo_credentials()
        options: dict[str, Any] = {
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "token_url": creds["token_url"],
            "allowed_hosts": creds["allowed_hosts"],
            "ssl_context": client_context,
            "clock": clock,
            "retry_backoff": 0.0,
        }
        options.update(overrides)
        client = WNS(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def wns(make_wns: MakeWNS) -> WNS:
    return make_wns()


@pytest.fixture
async def control(sim: WNSSimulator, client_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the simulator's JSON control API (and raw requests)."""
    async with httpx.AsyncClient(base_url=sim.url, verify=client_context) as client:
        yield client
