"""One request on its way through the pool and a connection, and what a
connection reports back to its pool."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from pushgate.errors import TransportError
from pushgate.transport.hpack_decode import Field
from pushgate.transport.response import Response

if TYPE_CHECKING:
    from pushgate.transport.connection import ClientConnection


class Request:
    """A request: queued, then on a stream, maybe resent on another one.

    Slots rather than a dataclass: tens of thousands are created a second.
    """

    __slots__ = (
        "block", "body", "bucket", "chunks", "conn", "future",
        "headers", "received", "resends", "status", "stream_id",
    )

    def __init__(self, block: bytes, body: bytes, future: asyncio.Future[Response]) -> None:
        self.block = block
        self.body = body
        self.future = future
        self.resends = 0
        self.bucket: set[Request] | None = None  # deadline bucket, see deadlines.py
        self.conn: ClientConnection | None = None  # while on a stream
        self.stream_id = 0
        self.status = 0  # 0 until the final response HEADERS
        self.headers: list[Field] = []
        self.chunks: list[bytes] | None = None  # response DATA
        self.received = 0  # DATA octets not yet handed back with WINDOW_UPDATE


class ConnectionOwner(Protocol):
    """What a connection reports to its pool."""

    def _complete(self, request: Request, response: Response) -> None: ...
    def _fail(self, request: Request, error: TransportError) -> None: ...
    def _resend(self, requests: list[Request]) -> None: ...
    def _slot_freed(self, conn: ClientConnection) -> None: ...
    def _goaway(self, conn: ClientConnection, unprocessed: list[Request]) -> None: ...
    def _connection_lost(self, conn: ClientConnection) -> None: ...
