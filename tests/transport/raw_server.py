"""A raw-frame HTTP/2 server (h2c) for driving the client against a broken or
hostile peer: every frame it sends is written by the test, byte for byte.

It reads the client's preface and frames, records them (GOAWAY and
RST_STREAM codes, WINDOW_UPDATEs), answers PING and SETTINGS unless told
not to, and hands each request's stream id to the test's ``on_request``.
Waits are on conditions (:meth:`RawServer.until`), with ``GUARD`` only
against a hung test.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import hpack

from pushgate.transport import H2Pool, HeaderBlock
from pushgate.transport import frames as f
from tests.transport.raw_h2 import GUARD

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_U32 = struct.Struct(">L")


@dataclass
class Frame:
    type: int
    flags: int
    stream_id: int
    payload: bytes


@dataclass
class RawConn:
    server: RawServer
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    number: int
    frames: list[Frame] = field(default_factory=list)
    encoder: hpack.Encoder = field(default_factory=hpack.Encoder)
    closed: bool = False

    # -- what the client sent ------------------------------------------------------

    def of_type(self, frame_type: int, stream_id: int | None = None) -> list[Frame]:
        return [
            fr for fr in self.frames
            if fr.type == frame_type and (stream_id is None or fr.stream_id == stream_id)
        ]

    @property
    def goaway_code(self) -> int | None:
        goaways = self.of_type(f.GOAWAY)
        return _U32.unpack_from(goaways[0].payload, 4)[0] if goaways else None

    def reset_code(self, stream_id: int) -> int | None:
        resets = self.of_type(f.RST_STREAM, stream_id)
        return _U32.unpack_from(resets[0].payload)[0] if resets else None

    # -- what the test sends -------------------------------------------------------

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def frame(self, frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> None:
        self.send(f.frame(frame_type, flags, stream_id, payload))

    def block(self, headers: list[tuple[str, str]]) -> bytes:
        return bytes(self.encoder.encode(headers))

    def headers(self, stream_id: int, headers: list[tuple[str, str]], *, end_stream: bool = False) -> None:
        flags = f.FLAG_END_HEADERS | (f.FLAG_END_STREAM if end_stream else 0)
        self.frame(f.HEADERS, flags, stream_id, self.block(headers))

    def settings(self, values: dict[int, int] | None = None, stream_id: int = 0) -> None:
        payload = b"".join(struct.pack(">HL", k, v) for k, v in (values or {}).items())
        self.frame(f.SETTINGS, 0, stream_id, payload)

    async def flood(self, chunk: bytes, limit: int, stop: Callable[[], bool] = lambda: False) -> None:
        """Write ``chunk`` again and again until the client hangs up or ``stop()``;
        at ``limit`` octets, hang up (a client that never stops a flood then
        fails its test at once instead of hanging)."""
        sent = 0
        try:
            while not self.closed and not stop():
                if sent >= limit:
                    self.close()
                    return
                self.writer.write(chunk)
                sent += len(chunk)
                await self.writer.drain()
        except ConnectionError:
            pass

    def close(self) -> None:
        self.writer.close()


OnConnect = Callable[[RawConn], Awaitable[None]]
OnRequest = Callable[[RawConn, int], Awaitable[None]]


async def _ok(conn: RawConn, stream_id: int) -> None:
    conn.headers(stream_id, [(":status", "200")], end_stream=True)


class RawServer:
    """``on_connect`` runs first (default: send an empty SETTINGS); with
    ``read=False`` the server then never reads the socket."""

    def __init__(
        self,
        on_request: OnRequest = _ok,
        *,
        on_connect: OnConnect | None = None,
        read: bool = True,
        answer_pings: bool = True,
    ) -> None:
        self.on_request = on_request
        self.on_connect = on_connect
        self.read = read
        self.answer_pings = answer_pings
        self.conns: list[RawConn] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        for conn in self.conns:
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def changed(self) -> None:
        self._changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = RawConn(self, reader, writer, len(self.conns) + 1)
        self.conns.append(conn)
        self.changed()
        try:
            if self.on_connect is None:
                conn.settings()
            else:
                await self.on_connect(conn)
            if self.read:
                await self._read(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            conn.closed = True
            self.changed()

    async def _read(self, conn: RawConn) -> None:
        if await conn.reader.readexactly(len(PREFACE)) != PREFACE:
            raise ConnectionError("not an HTTP/2 client")
        decoder = hpack.Decoder()
        while True:
            head = await conn.reader.readexactly(9)
            length = int.from_bytes(head[:3], "big")
            frame = Frame(head[3], head[4], int.from_bytes(head[5:9], "big") & f.MAX_STREAM_ID,
                          await conn.reader.readexactly(length))
            conn.frames.append(frame)
            if frame.type == f.SETTINGS and not frame.flags & f.FLAG_ACK:
                conn.frame(f.SETTINGS, f.FLAG_ACK, 0)
            elif frame.type == f.PING and not frame.flags & f.FLAG_ACK and self.answer_pings:
                conn.frame(f.PING, f.FLAG_ACK, 0, frame.payload)
            elif frame.type == f.HEADERS:
                decoder.decode(frame.payload)  # requests are single HEADERS frames, no padding
                self._spawn(self.on_request(conn, frame.stream_id))
            self.changed()



class Serve:
    """The fixture: raw servers and the pools pointed at them, all closed after the test."""

    def __init__(self) -> None:
        self.servers: list[RawServer] = []
        self.pools: list[H2Pool] = []

    async def __call__(
        self, on_request: OnRequest = _ok, *, server: dict[str, object] | None = None, **pool: object
    ) -> tuple[RawServer, H2Pool]:
        raw = RawServer(on_request, **(server or {}))  # type: ignore[arg-type]
        url = await raw.start()
        self.servers.append(raw)
        h2pool = H2Pool(url, **pool)  # type: ignore[arg-type]
        self.pools.append(h2pool)
        return raw, h2pool

    async def close(self) -> None:
        for h2pool in self.pools:
            await h2pool.aclose()
        for raw in self.servers:
            await raw.stop()


def request_block(pool: H2Pool, path: str = "/") -> HeaderBlock:
    return HeaderBlock.encode(
        [(":method", "POST"), (":scheme", pool.scheme), (":authority", pool.authority), (":path", path)]
    )
