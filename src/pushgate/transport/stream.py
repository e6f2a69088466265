"""One request on its way through the pool and a connection, and what a
connection reports back to its pool."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pushgate.errors import TransportError
from pushgate.transport.hpack_decode import Field
from pushgate.transport.response import Response

if TYPE_CHECKING:
    from pushgate.transport.core import ConnectionCore


# Called exactly once per request: (tag, response, None) or (tag, None, error).
Callback = Callable[[Any, Response | None, TransportError | None], None]


class Request:
    """A request: queued, then on a stream, maybe resent on another one.

    Slots rather than a dataclass: tens of thousands are created a second.
    The outcome goes to ``callback(tag, response, error)``, called directly
    from the connection's ``data_received`` (no future, no ``call_soon``);
    ``future`` is set only for requests made through :meth:`H2Pool.request`,
    whose caller may cancel it.
    """

    __slots__ = (
        "block", "body", "bucket", "callback", "chunks", "conn", "finished", "future",
        "headers", "received", "resends", "status", "stream_id", "tag",
    )
    # Set by ClientConnection.start for each stream the request goes on:
    stream_id: int
    status: int  # 0 until the final response HEADERS
    chunks: list[bytes] | None  # response DATA
    received: int  # response DATA octets so far, padding included (capped, see responses.py)
    headers: list[Field]  # set with the final response HEADERS

    def __init__(
        self,
        block: bytes,
        body: bytes,
        callback: Callback,
        tag: object = None,
        future: asyncio.Future[Response] | None = None,
    ) -> None:
        self.block = block
        self.body = body
        self.callback = callback
        self.tag = tag
        self.future = future
        self.finished = False  # the callback ran (or the future was cancelled, see abandoned)
        self.resends = 0
        self.bucket: set[Request] | None = None  # deadline bucket, see deadlines.py
        self.conn: ConnectionCore | None = None  # while on a stream

    def abandoned(self) -> bool:
        """Answered, failed or timed out already, or its future was cancelled."""
        return self.finished or (self.future is not None and self.future.done())


class ConnectionOwner(Protocol):
    """What a connection reports to its pool."""

    def _complete(self, request: Request, response: Response) -> None: ...
    def _fail(self, request: Request, error: TransportError) -> None: ...
    def _resend(self, requests: list[Request]) -> None: ...
    def _slot_freed(self, conn: ConnectionCore) -> None: ...
    def _goaway(self, conn: ConnectionCore, unprocessed: list[Request]) -> None: ...
    def _connection_lost(self, conn: ConnectionCore) -> None: ...
