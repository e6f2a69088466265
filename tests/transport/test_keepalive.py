"""HTTP/2 PING health checks (RFC 9113 §6.7) against an ``h2`` server on a real socket.

Small intervals make the timers fire within a test; every wait is on a
condition, with ``GUARD`` only against a hung test, and no assertion is
about timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import cast

import h2.config
import h2.connection
import h2.events
import pytest

from pushgate.transport import ConnectionLost, H2Pool, HeaderBlock
from pushgate.transport import frames as f
from tests.transport.raw_h2 import GUARD


class PingServer(asyncio.Protocol):
    """Answers every request with 200 and counts the PINGs it receives.

    ``frozen`` makes it a black hole: it keeps reading and never writes,
    like a peer behind a NAT that dropped the flow.
    """

    def __init__(self, owner: Peer) -> None:
        self.owner = owner
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.owner.connections += 1
        self.h2.initiate_connection()
        self.transport.write(self.h2.data_to_send())
        if self.owner.stray_ack:  # an ACK for a PING the client never sent: ignored (§6.7)
            self.transport.write(f.frame(f.PING, f.FLAG_ACK, 0, b"strayack"))

    def data_received(self, data: bytes) -> None:
        if self.owner.frozen:
            return
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.PingReceived):
                self.owner.pings.append(event.ping_data)
            elif isinstance(event, h2.events.StreamEnded):
                self.h2.send_headers(event.stream_id, [(":status", "200")], end_stream=True)
        assert self.transport is not None
        self.transport.write(self.h2.data_to_send())
        self.owner.changed()

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.closed += 1
        self.owner.changed()


class Peer:
    def __init__(self) -> None:
        self.connections = 0
        self.closed = 0
        self.pings: list[bytes] = []
        self.frozen = False
        self.stray_ack = False
        self._changed = asyncio.Event()
        self.server: asyncio.Server | None = None

    def changed(self) -> None:
        self._changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    p.server = await asyncio.get_running_loop().create_server(lambda: PingServer(p), "127.0.0.1", 0)
    yield p
    p.server.close()
    await p.server.wait_closed()


def block(pool: H2Pool, path: str) -> HeaderBlock:
    return HeaderBlock.encode(
        [(":method", "POST"), (":scheme", pool.scheme), (":authority", pool.authority), (":path", path)]
    )


async def test_idle_connection_is_pinged_and_stays_open(peer: Peer) -> None:
    peer.stray_ack = True
    # A generous timeout: only the ACKs keep this connection, so a slow machine must not lose it.
    async with H2Pool(peer.url, ping_interval=0.05, ping_timeout=GUARD) as pool:
        assert (await pool.request(block(pool, "/first"))).status == 200
        await peer.until(lambda: len(peer.pings) >= 3)
        assert len(set(peer.pings)) == len(peer.pings)  # a fresh payload each time
        assert all(len(payload) == 8 for payload in peer.pings)
        (conn,) = pool.connections
        assert not conn.closed
        assert conn.keepalive is not None
        assert conn.keepalive.pings_sent >= 3
        assert (await pool.request(block(pool, "/later"))).status == 200
    assert pool.connections_opened == 1
    assert peer.connections == 1


async def test_silent_peer_is_dropped_and_the_next_request_uses_a_new_connection(peer: Peer) -> None:
    async with H2Pool(peer.url, ping_interval=0.05, ping_timeout=0.1) as pool:
        assert (await pool.request(block(pool, "/first"))).status == 200
        (conn,) = pool.connections
        peer.frozen = True
        async with asyncio.timeout(GUARD):
            await asyncio.shield(conn.closed_waiter)
        assert conn.keepalive is not None
        assert not conn.keepalive.armed
        assert pool.connections == []
        peer.frozen = False  # the new connection's server protocol answers again
        assert (await pool.request(block(pool, "/after"))).status == 200
        assert pool.connections_opened == 2
    assert peer.connections == 2


async def test_request_in_flight_on_a_silent_peer_fails_as_connection_lost(peer: Peer) -> None:
    # The request timeout is far away: the PING is what notices the dead peer.
    async with H2Pool(peer.url, ping_interval=0.05, ping_timeout=0.1, request_timeout=GUARD * 2) as pool:
        assert (await pool.request(block(pool, "/first"))).status == 200
        peer.frozen = True
        with pytest.raises(ConnectionLost, match="PING"):
            async with asyncio.timeout(GUARD):
                await pool.request(block(pool, "/lost"))
        peer.frozen = False
        assert (await pool.request(block(pool, "/after"))).status == 200
        assert pool.connections_opened == 2


async def test_busy_connection_sends_no_ping(peer: Peer) -> None:
    loop = asyncio.get_running_loop()
    async with H2Pool(peer.url, ping_interval=0.05, ping_timeout=GUARD) as pool:
        assert (await pool.request(block(pool, "/first"))).status == 200
        (conn,) = pool.connections
        assert conn.keepalive is not None
        end = loop.time() + 0.5  # ten intervals of answers flowing back to back
        sent = 0
        while loop.time() < end:
            assert (await pool.request(block(pool, f"/busy/{sent}"))).status == 200
            sent += 1
        assert conn.keepalive.pings_sent == 0
        assert peer.pings == []
        assert sent > 10


async def test_close_cancels_the_timer(peer: Peer) -> None:
    pool = H2Pool(peer.url, ping_interval=0.05)
    assert (await pool.request(block(pool, "/first"))).status == 200
    (conn,) = pool.connections
    assert conn.keepalive is not None
    assert conn.keepalive.armed
    await pool.aclose()
    assert conn.closed
    assert not conn.keepalive.armed
    await peer.until(lambda: peer.closed == 1)


async def test_ping_interval_none_disables_the_keepalive(peer: Peer) -> None:
    async with H2Pool(peer.url, ping_interval=None) as pool:
        assert (await pool.request(block(pool, "/first"))).status == 200
        assert pool.connections[0].keepalive is None
    with pytest.raises(ValueError, match="positive"):
        H2Pool(peer.url, ping_interval=0)
