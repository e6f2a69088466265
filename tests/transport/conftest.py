"""Shared fixtures: a throwaway CA and raw ``h2``-library clients (raw_h2.py).

The raw client exists for what httpx hides: connecting with no ALPN at all
(as aioapns does), reading SETTINGS values, RST_STREAM codes and GOAWAY
frames as they arrive on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from pushgate.simulators.tls import LocalCA
from tests.transport.raw_h2 import RawH2Client
from tests.transport.raw_server import Serve


@pytest.fixture(scope="session")
def ca() -> Iterator[LocalCA]:
    authority = LocalCA.create()
    yield authority
    authority.cleanup()


@pytest.fixture
async def raw_clients() -> AsyncIterator[list[RawH2Client]]:
    clients: list[RawH2Client] = []
    yield clients
    for client in clients:
        await client.close()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Raw-frame servers (raw_server.py) and pools pointed at them."""
    harness = Serve()
    yield harness
    await harness.close()
