"""The state every part of a client connection shares, and its output side.

``ClientConnection`` (``connection.py``) is assembled from three layers:
this one (the write buffer and how a connection ends), ``control.py``
(connection-level frames) and ``responses.py`` (streams, from the request's
HEADERS to the last DATA of its answer).

Frames are appended to one ``bytearray`` and written once per event-loop
turn (``loop.call_soon``) or per 64 KiB, honouring ``pause_writing``.
"""

from __future__ import annotations

import asyncio

from pushgate.transport import frames as f
from pushgate.transport.flow import SendFlow
from pushgate.transport.hpack_decode import ResponseHeaderDecoder
from pushgate.transport.keepalive import Keepalive
from pushgate.transport.stream import ConnectionOwner, Request

# Writes are coalesced per event-loop turn, but a burst is cut every 64 KiB so
# the server can start on the first requests while later ones are framed
# (one huge write per turn makes client and server take turns idling).
FLUSH_AT = 1 << 16


class ConnectionCore:
    """Shared state, the output buffer, and closing (politely, on error, or abruptly)."""

    def __init__(
        self, owner: ConnectionOwner, loop: asyncio.AbstractEventLoop, ping: tuple[float, float] | None = None
    ) -> None:
        self._owner = owner
        self._loop = loop
        self._ping = ping  # (interval, timeout) of the keepalive, None for none
        self.keepalive: Keepalive | None = None
        self.heard = False  # something arrived since the keepalive last looked (keepalive.py)
        self._lost_reason: str | None = None
        self._transport: asyncio.Transport | None = None
        self._out = bytearray()
        self._flush_pending = False
        self._paused = False
        self._inbuf = b""
        self._headers = ResponseHeaderDecoder()
        self._streams: dict[int, Request] = {}
        self._flow = SendFlow()
        self._next_stream_id = 1
        self._continuation: tuple[int, bytearray, bool] | None = None
        self._recv_unacked = 0
        self._violation: str | None = None
        self.max_concurrent_streams = 1
        self.settings_received = False
        self.draining = False
        self.closed = False
        self.alpn_refused: str | None = None
        self.goaway: tuple[int, int, bytes] | None = None  # (last_stream_id, error_code, debug)
        self.closed_waiter: asyncio.Future[None] = loop.create_future()

    # -- introspection --------------------------------------------------------------

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def free_slots(self) -> int:
        if self.draining or self.closed:
            return 0
        return self.max_concurrent_streams - len(self._streams)

    # -- output ---------------------------------------------------------------------

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._flush()

    def _schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False  # a call_soon still queued then finds little to write
        transport = self._transport
        if self._paused or not self._out or transport is None:
            return
        if transport.is_closing():
            self._out.clear()
            return
        data, self._out = self._out, bytearray()
        transport.write(data)

    def send_control(self, frame: bytes) -> None:
        self._out += frame
        self._flush()

    # -- ending ---------------------------------------------------------------------

    def close(self) -> None:
        """Say goodbye (GOAWAY NO_ERROR) and close; streams in flight fail as lost."""
        if self._transport is None or self.closed:
            return
        self.closed = True
        if self.keepalive is not None:
            self.keepalive.cancel()
        self._out += f.goaway(0, f.NO_ERROR)
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def abandon(self, reason: str) -> None:
        """Drop a connection whose peer stopped answering, as if the network had:
        no GOAWAY (nothing would read it), and ``connection_lost`` fails its
        streams with :class:`ConnectionLost` for ``reason``."""
        if self.closed or self._transport is None:
            return
        self.closed = True
        self._lost_reason = reason
        self._transport.abort()

    def _stream_done(self) -> None:
        if self.draining and not self._streams:
            self.close()
        else:
            self._owner._slot_freed(self)

    def _protocol_error(self, code: int, message: str) -> None:
        """A connection error (RFC 9113 §5.4.1): GOAWAY with the code, then close."""
        if self.closed or self._transport is None:
            return
        self._violation = f"HTTP/2 protocol error from the server: {message}"
        self.closed = True
        self._out += f.goaway(0, code, message.encode()[:200])
        self._flush()
        self._transport.close()
