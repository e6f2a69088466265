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

from pushgate.errors import TransportError
from pushgate.transport import frames as f
from pushgate.transport.errors import ConnectFailed, HTTP2NotNegotiated, ProtocolViolation
from pushgate.transport.flow import SendFlow
from pushgate.transport.frames import FrameError
from pushgate.transport.hpack_decode import ResponseHeaderDecoder
from pushgate.transport.keepalive import Keepalive
from pushgate.transport.stream import ConnectionOwner, Request

# Writes are coalesced per event-loop turn, but a burst is cut every 64 KiB so
# the server can start on the first requests while later ones are framed
# (one huge write per turn makes client and server take turns idling).
FLUSH_AT = 1 << 16
# RFC 9113 §10.5: every PING and SETTINGS wants an ACK, so a peer that sends
# them and never reads would grow our write buffer without end. Past this
# many ACKs queued while the transport is paused, the connection is dropped.
MAX_PENDING_ACKS = 1024
# §10.5 again: an empty DATA or CONTINUATION frame costs work and carries
# nothing. A connection may have this many, plus two per answered response.
EMPTY_FRAME_ALLOWANCE = 100
DEFAULT_MAX_RESPONSE_BODY = 1 << 16  # provider answers are a few KB at most
DEFAULT_RETIRE_AFTER_TIMEOUTS = 3


class ConnectionCore:
    """Shared state, the output buffer, and closing (politely, on error, or abruptly)."""

    def __init__(
        self,
        owner: ConnectionOwner,
        loop: asyncio.AbstractEventLoop,
        ping: tuple[float, float] | None = None,
        *,
        max_response_body: int = DEFAULT_MAX_RESPONSE_BODY,
        retire_after_timeouts: int = DEFAULT_RETIRE_AFTER_TIMEOUTS,
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
        # Why we ended the connection, for its requests: (error class, message).
        self._violation: tuple[type[TransportError], str] | None = None
        self._max_body = max_response_body
        self._retire_after = retire_after_timeouts
        self.answered = 0  # responses completed on this connection
        self.counted = False  # the pool has noted how this connection ended (backoff)
        self._timeouts = 0  # request timeouts since a response last completed
        self._answered_at_timeout = 0
        self._acks_paused = 0  # ACKs queued since the transport paused writing
        self._empty_frames = 0
        self._credit: dict[int, int] = {}  # WINDOW_UPDATE credit of streams whose body is out
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
        self._acks_paused = 0
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

    def _queue_ack(self, frame: bytes) -> None:
        self._out += frame
        if self._paused:
            self._acks_paused += 1
            if self._acks_paused > MAX_PENDING_ACKS:
                message = f"over {MAX_PENDING_ACKS} PING/SETTINGS ACKs queued for a peer not reading"
                raise FrameError(f.ENHANCE_YOUR_CALM, message)

    def _empty_frame(self) -> None:
        self._empty_frames += 1
        if self._empty_frames > EMPTY_FRAME_ALLOWANCE + 2 * self.answered:
            raise FrameError(f.ENHANCE_YOUR_CALM, f"{self._empty_frames} empty frames")

    def _idle(self, sid: int) -> bool:
        """A stream we never opened (§5.1): even ids are the server's, and push is off (§8.4)."""
        return not sid & 1 or sid >= self._next_stream_id

    # -- ending ---------------------------------------------------------------------

    def cancel(self, request: Request, error_code: int = f.CANCEL) -> None:
        """Abandon a stream (request timeout): RST_STREAM frees its slot (§6.4)."""
        sid = request.stream_id
        if self._streams.get(sid) is not request:
            return
        del self._streams[sid]
        self._flow.forget(sid)
        request.conn = None
        self._out += f.rst_stream(sid, error_code)
        self._schedule_flush()
        self._stream_done()

    def timed_out(self, request: Request) -> None:
        """The pool's deadline passed for ``request``: reset its stream. A
        connection that answers PINGs but no requests would otherwise take every
        retry, so after ``retire_after_timeouts`` in a row with no answer between
        it takes no new streams (draining) and closes when its last one ends."""
        if self.answered != self._answered_at_timeout:
            self._answered_at_timeout = self.answered
            self._timeouts = 0
        self._timeouts += 1
        if self._timeouts >= self._retire_after:
            self.draining = True
        self.cancel(request)

    def _stream_error(self, sid: int, request: Request, message: str, code: int = f.PROTOCOL_ERROR) -> None:
        """A stream error (RFC 9113 §5.4.2), e.g. a malformed response (§8.1.1):
        reset the stream, fail the request; the connection goes on."""
        self.cancel(request, code)
        self._owner._fail(request, ProtocolViolation(message))

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
        name = f.ERROR_NAMES.get(code, f"{code:#x}")
        self._violation = (ProtocolViolation, f"HTTP/2 protocol error from the server ({name}): {message}")
        self.closed = True
        self._out += f.goaway(0, code, message.encode()[:200])
        self._flush()
        if self._paused:  # the peer is not reading: close() would wait for it forever
            self._transport.abort()
        else:
            self._transport.close()

    def _not_http2(self, data: bytes) -> None:
        """The server answered in HTTP/1.x (no ALPN, or h2c to an HTTP/1.1 port):
        no HTTP/2 to speak of, so no GOAWAY; its requests were not processed."""
        if self.closed or self._transport is None:
            return
        line = data.split(b"\r\n", 1)[0][:60].decode("ascii", "replace")
        self._violation = (HTTP2NotNegotiated, f"the server answered in HTTP/1.x ({line!r}), not HTTP/2")
        self.closed = True
        self._transport.abort()

    def setup_failure(self, authority: str) -> TransportError:
        """Why a connection closed before its SETTINGS, for the requests still queued."""
        if self._violation is None:
            return ConnectFailed(f"{authority} closed the connection before its HTTP/2 SETTINGS")
        error, reason = self._violation
        if error is HTTP2NotNegotiated:
            return HTTP2NotNegotiated(f"{authority}: {reason}")
        return ConnectFailed(f"{authority}: {reason}")
