"""The pool against servers that never get anywhere: reconnect backoff, a
server without HTTP/2, SETTINGS the client rejects, and a half-dead
connection (RFC 9113 §10.5: bound what a peer can make the client do).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

import pytest

from pushgate.errors import ConfigurationError
from pushgate.transport import (
    ConnectFailed,
    ConnectionLost,
    HTTP2NotNegotiated,
    RequestTimeout,
)
from pushgate.transport import frames as f
from tests.transport.raw_server import RawConn, Serve, request_block


class FakeSleep:
    """Records the delays the pool asks for; returns at once until ``hold_after``
    calls, then holds the caller until the test releases it."""

    def __init__(self, hold_after: int) -> None:
        self.delays: list[float] = []
        self.hold_after = hold_after
        self.changed: Callable[[], None] = lambda: None
        self.release = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.changed()
        if len(self.delays) >= self.hold_after:
            await self.release.wait()


async def _refuse_everything(conn: RawConn) -> None:
    """SETTINGS_MAX_CONCURRENT_STREAMS=0, then GOAWAY: no request can ever start.
    The client closes (a server closing with the client's frames unread would
    reset the connection, and the client might never read the GOAWAY)."""
    conn.settings({f.SETTINGS_MAX_CONCURRENT_STREAMS: 0})
    conn.frame(f.GOAWAY, 0, 0, struct.pack(">LL", 0, f.NO_ERROR))


async def test_reconnects_back_off_exponentially_with_jitter(serve: Serve) -> None:
    sleep = FakeSleep(hold_after=6)
    server, pool = await serve(
        server={"on_connect": _refuse_everything},
        request_timeout=None, reconnect_backoff=0.1, max_reconnect_delay=2.0,
        random=lambda: 0.5, sleep=sleep,
        max_resends=10,  # each connection takes the request before its SETTINGS, then GOAWAYs it
    )
    sleep.changed = server.changed
    pending = pool.request(request_block(pool))
    await server.until(lambda: len(sleep.delays) >= 6)
    # The first connection opens at once; each one that answered nothing
    # doubles the wait before the next (capped), times a jitter of 0.5 + 0.5 * random.
    assert sleep.delays == pytest.approx([0.075, 0.15, 0.3, 0.6, 1.2, 1.5])
    assert len(server.conns) == 6
    assert not pending.done()
    await pool.aclose()
    with pytest.raises(ConnectionLost):
        await pending


async def test_a_connection_that_answers_resets_the_backoff(serve: Serve) -> None:
    async def on_connect(conn: RawConn) -> None:
        if conn.number <= 2:
            await _refuse_everything(conn)
        else:
            conn.settings()

    async def on_request(conn: RawConn, sid: int) -> None:
        conn.headers(sid, [(":status", "200")], end_stream=True)
        conn.frame(f.GOAWAY, 0, 0, struct.pack(">LL", sid, f.NO_ERROR))  # then a polite goodbye

    sleep = FakeSleep(hold_after=100)
    server, pool = await serve(
        on_request, server={"on_connect": on_connect}, request_timeout=None,
        reconnect_backoff=0.1, random=lambda: 1.0, sleep=sleep,
    )
    assert (await pool.request(request_block(pool))).status == 200
    assert sleep.delays == pytest.approx([0.1, 0.2])
    await server.until(lambda: not pool.connections)
    assert (await pool.request(request_block(pool))).status == 200
    assert sleep.delays == pytest.approx([0.1, 0.2])  # no wait after a connection that answered
    assert len(server.conns) == 4


async def test_http1_answer_is_http2_not_negotiated(serve: Serve) -> None:
    """A server that speaks only HTTP/1.1 (no ALPN, or h2c to an HTTP/1.1 port)
    answers the preface with an HTTP/1.1 error: a configuration problem."""

    async def on_connect(conn: RawConn) -> None:
        await conn.reader.read(24)
        conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.close()

    _, pool = await serve(server={"on_connect": on_connect, "read": False}, request_timeout=None)
    results = await asyncio.gather(
        *[pool.request(request_block(pool)) for _ in range(3)], return_exceptions=True
    )
    assert all(isinstance(r, HTTP2NotNegotiated) for r in results), results
    assert all(isinstance(r, ConfigurationError) for r in results)
    assert all("HTTP/1" in str(r) for r in results)


async def test_rejected_settings_are_named_as_the_cause(serve: Serve) -> None:
    async def on_connect(conn: RawConn) -> None:
        conn.settings({f.SETTINGS_MAX_FRAME_SIZE: 100})  # below 16,384: RFC 9113 §6.5.2

    _, pool = await serve(server={"on_connect": on_connect}, request_timeout=None)
    results = await asyncio.gather(
        *[pool.request(request_block(pool)) for _ in range(3)], return_exceptions=True
    )
    assert all(isinstance(r, ConnectionLost | ConnectFailed) for r in results), results
    assert all("MAX_FRAME_SIZE" in str(r) for r in results), results


async def test_half_dead_connection_is_retired_after_consecutive_timeouts(serve: Serve) -> None:
    """Connection 1 answers PINGs (and SETTINGS) but never a request."""

    async def on_request(conn: RawConn, sid: int) -> None:
        if conn.number > 1:
            conn.headers(sid, [(":status", "200")], end_stream=True)

    server, pool = await serve(on_request, request_timeout=0.1)  # retire_after_timeouts: 3
    for _ in range(3):
        with pytest.raises(RequestTimeout):
            await pool.request(request_block(pool))
    assert (await pool.request(request_block(pool))).status == 200
    assert len(server.conns) == 2
    await server.until(lambda: server.conns[0].closed)  # retired: closed once its streams ended
