"""A minimal HTTP/2 answering sink for measuring the client, not the server.

PROTOCOLS.md §7 measured client stacks against an nginx HTTP/2 sink (about
100,000 requests/s from h2load) so the server was never the limit. No nginx
here, and the ``h2``-based SimServer tops out well below the client, so this
sink does the least an HTTP/2 server can: it reads frames (RFC 9113 §4.1),
answers every request that ends its stream with one HEADERS frame
``:status: 200`` + END_STREAM (HPACK static index 8, RFC 7541 Appendix A),
ACKs SETTINGS and PINGs, and hands back flow-control credit for the DATA it
reads. It validates nothing; it is a benchmark instrument only.
"""

from __future__ import annotations

import asyncio
import ssl
import struct

_HEADER = struct.Struct(">HBBBL")
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_WINDOW = (1 << 31) - 1


def _frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _HEADER.pack(n >> 8, n & 0xFF, ftype, flags, sid) + payload


class SinkProtocol(asyncio.Protocol):
    def __init__(self, max_streams: int) -> None:
        self._max_streams = max_streams
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
        answer = b"\x88"
        while total - pos >= 9:
            hi, lo, ftype, flags, sid = _HEADER.unpack_from(data, pos)
            end = pos + 9 + ((hi << 8) | lo)
            if end > total:
                break
            if ftype == 0x1 or ftype == 0x0:  # HEADERS / DATA
                if ftype == 0x0:
                    self._unacked += end - pos - 9
                if flags & 0x1:
                    out += _HEADER.pack(0, 1, 0x1, 0x5, sid)
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
    host: str, port: int, ssl_context: ssl.SSLContext | None, max_streams: int = 1000
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SinkProtocol(max_streams), host, port, ssl=ssl_context)
