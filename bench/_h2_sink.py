"""A minimal HTTP/2 answering sink for measuring the client, not the server.

docs/architecture.md §7 measured client stacks against an nginx HTTP/2 sink (about
100,000 requests/s from h2load) so the server was never the limit. No nginx
here, and the ``h2``-based SimServer tops out well below the client, so this
sink does the least an HTTP/2 server can: it reads frames (RFC 9113 §4.1),
answers every request that ends its stream with one HEADERS frame
``:status: 200`` + END_STREAM (HPACK static index 8, RFC 7541 Appendix A),
ACKs SETTINGS and PINGs, and hands back flow-control credit for the DATA it
reads. It validates nothing; it is a benchmark instrument only.

With ``apns_ids`` it answers like APNs instead (docs/protocols/apns.md §5): ``:status
200`` plus a fresh ``apns-id`` UUID, HPACK-encoded the way a typical server
encoder does it (``hpack.Encoder``: indexed, Huffman-coded), so the client
pays the realistic decoding cost. Those blocks are encoded ahead, in order,
so the sink's own speed does not change.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import uuid
from collections import deque

import hpack

_HEADER = struct.Struct(">HBBBL")
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_WINDOW = (1 << 31) - 1


def _frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _HEADER.pack(n >> 8, n & 0xFF, ftype, flags, sid) + payload


def apns_answers(count: int) -> deque[bytes]:
    """``count`` consecutive response header blocks from one HPACK encoder."""
    encoder = hpack.Encoder()
    return deque(encoder.encode([(":status", "200"), ("apns-id", str(uuid.uuid4()))]) for _ in range(count))


class SinkProtocol(asyncio.Protocol):
    def __init__(self, max_streams: int, answers: deque[bytes] | None = None) -> None:
        self._max_streams = max_streams
        self._answers = answers
        self._buffer = b""
        self._preface = True
        self._out = bytearray()
        self._scheduled = False
        self._transport: asyncio.Transport | None = None
        self._unacked = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        settings = struct.pack(">HLHL", 0x3, self._max_streams, 0x4, _WINDOW)
        transport.write(_frame(0x4, 0, 0, settings) + _frame(0x8, 0, 0, struct.pack(">L", _WINDOW - 65535)))

    def data_received(self, data: bytes) -> None:
        data = self._buffer + data if self._buffer else data
        pos = 0
        if self._preface:
            if len(data) < 24:
                self._buffer = data
                return
            pos = 24
            self._preface = False
        total = len(data)
        out = self._out
        answers = self._answers
        while total - pos >= 9:
            hi, lo, ftype, flags, sid = _HEADER.unpack_from(data, pos)
            end = pos + 9 + ((hi << 8) | lo)
            if end > total:
                break
            if ftype == 0x1 or ftype == 0x0:  # HEADERS / DATA
                if ftype == 0x0:
                    self._unacked += end - pos - 9
                if flags & 0x1:
                    answer = answers.popleft() if answers else b"\x88"
                    size = len(answer)
                    out += _HEADER.pack(size >> 8, size & 0xFF, 0x1, 0x5, sid)
                    out += answer
            elif ftype == 0x4 and not flags & 0x1:
                out += _frame(0x4, 0x1, 0)
            elif ftype == 0x6 and not flags & 0x1:
                out += _frame(0x6, 0x1, 0, data[pos + 9 : end])
            pos = end
        self._buffer = data[pos:]
        if self._unacked > 1 << 20:
            out += _frame(0x8, 0, 0, struct.pack(">L", self._unacked))
            self._unacked = 0
        if out and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._transport is not None and not self._transport.is_closing() and self._out:
            data, self._out = self._out, bytearray()
            self._transport.write(data)


async def serve_sink(
    host: str, port: int, ssl_context: ssl.SSLContext | None, max_streams: int = 1000, apns_ids: int = 0
) -> asyncio.Server:
    """Serve; with ``apns_ids`` the first connection gets that many APNs-style answers."""
    loop = asyncio.get_running_loop()
    answers = [apns_answers(apns_ids)] if apns_ids else []

    def protocol() -> SinkProtocol:
        # One encoder sequence per connection: HPACK state is per connection.
        return SinkProtocol(max_streams, answers.pop() if answers else None)

    return await loop.create_server(protocol, host, port, ssl=ssl_context)
