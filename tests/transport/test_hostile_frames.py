"""The client against a broken or hostile server, frame by frame (RFC 9113 §10.5:
a client bounds what a peer can make it buffer or do; §5.1, §6, §8.1: it
rejects what the RFC calls an error). Every server here is raw_server.py.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from pushgate.transport import ProtocolViolation, ResponseTooLarge
from pushgate.transport import frames as f
from tests.transport.raw_h2 import GUARD
from tests.transport.raw_server import RawConn, Serve, request_block

_U32 = struct.Struct(">L")

# A hang before a fix ends as RequestTimeout after GUARD seconds: a failure, never a timing.

# -- §10.5: bounded buffering and work ------------------------------------------------


async def test_endless_continuation_is_cut_off(serve: Serve) -> None:
    async def on_request(conn: RawConn, sid: int) -> None:
        conn.frame(f.HEADERS, 0, sid, conn.block([(":status", "200")]))  # no END_HEADERS
        junk = f.frame(f.CONTINUATION, 0, sid, b"\x40\x01a\x01b" * 3000)  # literal fields, 15 KB
        await conn.flood(junk, 4 << 20)

    _, pool = await serve(on_request, request_timeout=GUARD)
    # The GOAWAY's code is in the message: the server may not read it, as it floods.
    with pytest.raises(ProtocolViolation, match=r"ENHANCE_YOUR_CALM.*header block"):
        await pool.request(request_block(pool))


@pytest.mark.parametrize("kind", ["data", "continuation"])
async def test_a_flood_of_empty_frames_closes_the_connection(serve: Serve, kind: str) -> None:
    async def on_request(conn: RawConn, sid: int) -> None:
        if kind == "data":
            conn.headers(sid, [(":status", "200")])
            empty = f.frame(f.DATA, 0, sid)
        else:
            conn.frame(f.HEADERS, 0, sid, conn.block([(":status", "200")]))
            empty = f.frame(f.CONTINUATION, 0, sid)
        await conn.flood(empty * 1000, 9 * 200_000)

    _, pool = await serve(on_request, request_timeout=GUARD)
    with pytest.raises(ProtocolViolation, match=r"ENHANCE_YOUR_CALM.*empty"):
        await pool.request(request_block(pool))


async def test_response_body_is_capped_and_the_stream_reset(serve: Serve) -> None:
    async def on_request(conn: RawConn, sid: int) -> None:
        conn.headers(sid, [(":status", "200")])
        chunk = f.frame(f.DATA, 0, sid, b"x" * 16384)
        await conn.flood(chunk, 9 << 20, stop=lambda: conn.reset_code(sid) is not None)

    server, pool = await serve(on_request, request_timeout=GUARD)  # the default cap, 64 KiB
    with pytest.raises(ResponseTooLarge):
        await pool.request(request_block(pool))
    conn = server.conns[0]
    await server.until(lambda: conn.reset_code(1) is not None)
    assert conn.reset_code(1) == f.CANCEL
    assert conn.of_type(f.WINDOW_UPDATE, 1) == []  # no more credit for a body it will not read
    assert conn.goaway_code is None  # a stream error: the connection stays


async def test_response_body_cap_is_configurable(serve: Serve) -> None:
    async def on_request(conn: RawConn, sid: int) -> None:
        size = 1024 if sid == 1 else 1025
        conn.headers(sid, [(":status", "200")])
        conn.frame(f.DATA, f.FLAG_END_STREAM, sid, b"y" * size)

    _, pool = await serve(on_request, request_timeout=GUARD, max_response_body=1024)
    assert (await pool.request(request_block(pool))).body == b"y" * 1024
    with pytest.raises(ResponseTooLarge, match="1024"):
        await pool.request(request_block(pool))


@pytest.mark.parametrize("kind", ["ping", "settings"])
async def test_control_flood_from_a_peer_that_never_reads(serve: Serve, kind: str) -> None:
    """Every PING and SETTINGS wants an ACK; a peer that never reads them must
    not grow our write buffer without limit."""
    if kind == "ping":
        frame = f.frame(f.PING, 0, 0, b"12345678")
    else:
        frame = f.frame(f.SETTINGS, 0, 0, struct.pack(">HL", f.SETTINGS_MAX_CONCURRENT_STREAMS, 100))

    async def on_connect(conn: RawConn) -> None:
        conn.settings()
        await conn.flood(frame * 2000, 64 << 20)

    _, pool = await serve(request_timeout=GUARD, server={"on_connect": on_connect, "read": False})
    with pytest.raises(ProtocolViolation, match=r"ENHANCE_YOUR_CALM.*ACK"):
        await pool.request(request_block(pool))


# -- §8.1: malformed responses are stream errors ---------------------------------------


async def test_interim_response_ending_the_stream_is_malformed(serve: Serve) -> None:
    async def on_request(conn: RawConn, sid: int) -> None:
        if sid == 1:
            conn.headers(sid, [(":status", "103")], end_stream=True)
        else:
            conn.headers(sid, [(":status", "200")], end_stream=True)

    server, pool = await serve(on_request, request_timeout=GUARD)
    with pytest.raises(ProtocolViolation, match="interim"):
        await pool.request(request_block(pool))
    await server.until(lambda: server.conns[0].reset_code(1) is not None)
    assert server.conns[0].reset_code(1) == f.PROTOCOL_ERROR
    assert (await pool.request(request_block(pool))).status == 200  # the connection stays


@pytest.mark.parametrize("status", ["1000", "20", "2x0"])
async def test_status_must_be_three_digits(serve: Serve, status: str) -> None:
    async def on_request(conn: RawConn, sid: int) -> None:
        conn.headers(sid, [(":status", status)], end_stream=True)

    server, pool = await serve(on_request, request_timeout=GUARD)
    with pytest.raises(ProtocolViolation, match=":status"):
        await pool.request(request_block(pool))
    await server.until(lambda: server.conns[0].reset_code(1) is not None)
    assert server.conns[0].reset_code(1) == f.PROTOCOL_ERROR


# -- §5.1, §6: frames the RFC says to reject --------------------------------------------


def _priority_headers(conn: RawConn, sid: int) -> None:
    conn.frame(f.HEADERS, f.FLAG_END_HEADERS | f.FLAG_END_STREAM | f.FLAG_PRIORITY, sid, b"\x00\x00\x88")


CONNECTION_ERRORS: dict[str, tuple[Callable[[RawConn, int], None], int]] = {
    # §5.1: HEADERS on a stream the client never opened, odd (idle) or even (server-initiated)
    "headers-on-idle-stream": (
        lambda c, sid: c.headers(sid + 8, [(":status", "200")], end_stream=True), f.PROTOCOL_ERROR),
    "headers-on-server-stream": (
        lambda c, sid: c.headers(2, [(":status", "200")], end_stream=True), f.PROTOCOL_ERROR),
    # §6.5: SETTINGS belong to the connection
    "settings-on-a-stream": (
        lambda c, sid: c.settings({f.SETTINGS_MAX_CONCURRENT_STREAMS: 5}, stream_id=sid), f.PROTOCOL_ERROR),
    # §6.9: a WINDOW_UPDATE of 0 on the connection
    "window-update-zero": (lambda c, sid: c.frame(f.WINDOW_UPDATE, 0, 0, _U32.pack(0)), f.PROTOCOL_ERROR),
    # §6.4: RST_STREAM on stream 0
    "rst-stream-on-zero": (lambda c, sid: c.frame(f.RST_STREAM, 0, 0, _U32.pack(0)), f.PROTOCOL_ERROR),
    # §6.2, §4.2: PRIORITY flag with fewer than the 5 priority octets
    "short-priority-headers": (_priority_headers, f.FRAME_SIZE_ERROR),
}


@pytest.mark.parametrize("case", sorted(CONNECTION_ERRORS))
async def test_frames_that_are_connection_errors(serve: Serve, case: str) -> None:
    script, code = CONNECTION_ERRORS[case]

    async def on_request(conn: RawConn, sid: int) -> None:
        script(conn, sid)

    server, pool = await serve(on_request, request_timeout=GUARD)
    with pytest.raises(ProtocolViolation):
        await pool.request(request_block(pool))
    await server.until(lambda: server.conns[0].goaway_code is not None)
    assert server.conns[0].goaway_code == code


STREAM_ERRORS = {
    # §6.9: a WINDOW_UPDATE of 0 on a stream
    "stream-window-update-zero": (_U32.pack(0), f.PROTOCOL_ERROR),
    # §6.9.1: a stream window above 2^31-1
    "stream-window-overflow": (_U32.pack(f.MAX_WINDOW), f.FLOW_CONTROL_ERROR),
}


@pytest.mark.parametrize("case", sorted(STREAM_ERRORS))
async def test_window_updates_that_are_stream_errors(serve: Serve, case: str) -> None:
    payload, code = STREAM_ERRORS[case]

    async def on_request(conn: RawConn, sid: int) -> None:
        if sid == 1:
            conn.frame(f.WINDOW_UPDATE, 0, sid, payload)
        else:
            conn.headers(sid, [(":status", "200")], end_stream=True)

    server, pool = await serve(on_request, request_timeout=GUARD)
    with pytest.raises(ProtocolViolation):
        await pool.request(request_block(pool), b"body")
    await server.until(lambda: server.conns[0].reset_code(1) is not None)
    assert server.conns[0].reset_code(1) == code
    assert server.conns[0].goaway_code is None
    assert (await pool.request(request_block(pool))).status == 200
