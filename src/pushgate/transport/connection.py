"""One client HTTP/2 connection: a hand-written frame layer on ``asyncio.Protocol``.

Why hand-written: on this 2-core machine the generic stacks top out far
below what a push gateway needs (PROTOCOLS.md §7: httpx with HTTP/2 about
800 requests/s, aioapns about 3,000/s, the ``h2`` state machine 5,000-9,000/s),
while a purpose-built frame writer reached about 60,000/s against nginx. The
difference is per-request Python work, so this module does as little as
possible per stream:

- request header blocks arrive pre-encoded (:class:`HeaderBlock`, stateless
  HPACK), so sending a request is two struct packs and two buffer appends;
- frames are appended to one ``bytearray`` and written once per event-loop
  turn (``loop.call_soon``) or per 64 KiB, honouring ``pause_writing``;
- response header blocks go through a purpose-built HPACK decoder
  (``hpack_decode``: ``hpack.Decoder`` alone cost more per APNs-style
  response than the rest of the client's work per request);
- no locks, no tasks, no timers per request: the pool owns queueing and a
  periodic deadline sweep, and the PING keepalive is one timer per connection.

It runs on any asyncio event loop, uvloop included (not a dependency: an
APNs send against nginx measured 19.0-19.5 us of CPU per request on uvloop
against 20.0-22.5 us on the standard loop, within this machine's noise).

Protocol duties kept (RFC 9113): the preface and SETTINGS (§3.4, §6.5),
SETTINGS ACK, PING ACK and our own PINGs on a silent connection (§6.7,
``keepalive.py``), SETTINGS_MAX_CONCURRENT_STREAMS at all times
(§5.1.2; one stream until the server's first SETTINGS, since APNs token auth
allows one stream until a request is accepted, PROTOCOLS.md §1.9), the
peer's MAX_FRAME_SIZE (§4.2, CONTINUATION for big header blocks, §6.10),
both flow-control windows in both directions (§5.2, §6.9; sending side in
``flow.py``), GOAWAY (§6.8) and RST_STREAM (§6.4).
"""

from __future__ import annotations

import asyncio
from typing import cast

from pushgate.transport import frames as f
from pushgate.transport.errors import ConnectFailed, ConnectionLost, ProtocolViolation, StreamReset
from pushgate.transport.flow import FlowControlError, SendFlow
from pushgate.transport.frames import FrameError
from pushgate.transport.hpack_decode import ResponseHeaderDecoder
from pushgate.transport.keepalive import Keepalive
from pushgate.transport.response import Response
from pushgate.transport.stream import ConnectionOwner, Request

# Receive windows we grant (RFC 9113 §6.9.2): large, so responses never wait
# for a WINDOW_UPDATE round trip; refilled when half is used.
STREAM_WINDOW = 1 << 24
CONNECTION_WINDOW = 1 << 30
_UNLIMITED = f.MAX_STREAM_ID
# Writes are coalesced per event-loop turn, but a burst is cut every 64 KiB so
# the server can start on the first requests while later ones are framed
# (one huge write per turn makes client and server take turns idling).
FLUSH_AT = 1 << 16

_pack = f.FRAME_HEADER.pack
_unpack_from = f.FRAME_HEADER.unpack_from
_END_HEADERS = f.FLAG_END_HEADERS
_END_BOTH = f.FLAG_END_HEADERS | f.FLAG_END_STREAM
# A HEADERS frame with the whole block and no padding or priority fields.
_PLAIN_HEADERS_MASK = f.FLAG_END_HEADERS | f.FLAG_PADDED | f.FLAG_PRIORITY


class ClientConnection(asyncio.Protocol):
    """The client side of one HTTP/2 connection (TLS or h2c prior knowledge)."""

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

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed: uvloop's transports have the interface without the base class.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            alpn = ssl_object.selected_alpn_protocol()
            if alpn not in (None, "h2"):  # None: no ALPN at all, Apple speaks h2 anyway
                self.alpn_refused = alpn
                self.closed = True
                transport.close()
                return
        self._out += f.PREFACE
        self._out += f.settings({f.SETTINGS_ENABLE_PUSH: 0, f.SETTINGS_INITIAL_WINDOW_SIZE: STREAM_WINDOW})
        self._out += f.window_update(0, CONNECTION_WINDOW - f.DEFAULT_WINDOW)
        self._flush()
        if self._ping is not None:
            self.keepalive = Keepalive(self, self._loop, *self._ping)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.keepalive is not None:
            self.keepalive.cancel()
        streams, self._streams = self._streams, {}
        self._flow.blocked.clear()
        error: type[ConnectionLost | ConnectFailed]
        lost = self._lost_reason  # set by abandon
        if self._violation:
            error, reason = ProtocolViolation, self._violation
        elif not self.settings_received:
            # The server never spoke HTTP/2 (RFC 9113 §3.4), so it processed nothing.
            error = ConnectFailed
            reason = lost or "the server closed the connection before its HTTP/2 SETTINGS"
        else:
            error = ConnectionLost
            reason = lost or (f"connection lost: {exc}" if exc else "connection closed by the server")
        for request in streams.values():
            request.conn = None
            self._owner._fail(request, error(reason))
        self._owner._connection_lost(self)
        if not self.closed_waiter.done():
            self.closed_waiter.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._flush()

    # -- output ---------------------------------------------------------------------

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

    def start(self, request: Request) -> None:
        """Open a stream for ``request`` (the caller checked :meth:`free_slots`)."""
        sid = self._next_stream_id
        self._next_stream_id = sid + 2
        if self._next_stream_id > f.MAX_STREAM_ID:  # §5.1.1: ids are exhausted
            self.draining = True
        request.conn = self
        request.stream_id = sid
        request.status = 0
        request.chunks = None
        request.received = 0
        self._streams[sid] = request
        block = request.block
        body = request.body
        out = self._out
        size = len(block)
        flow = self._flow
        if size <= flow.max_frame:
            out += _pack(size >> 8, size & 0xFF, f.HEADERS, _END_HEADERS if body else _END_BOTH, sid)
            out += block
        else:
            f.header_frames(out, sid, block, not body, flow.max_frame)
        if body:
            size = len(body)
            if size <= flow.window and size <= flow.initial_window and size <= flow.max_frame:
                # One DATA frame within both windows (push bodies are small): inline.
                flow.window -= size
                out += _pack(size >> 8, size & 0xFF, f.DATA, f.FLAG_END_STREAM, sid)
                out += body
            else:
                flow.send(out, sid, request)
        if len(out) >= FLUSH_AT:
            self._flush()
        elif not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

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

    def send_control(self, frame: bytes) -> None:
        self._out += frame
        self._flush()

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

    # -- input ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.heard = True
        if self._inbuf:
            data = self._inbuf + data
        pos = 0
        total = len(data)
        try:
            while total - pos >= 9:
                hi, lo, ftype, flags, sid = _unpack_from(data, pos)
                length = (hi << 8) | lo
                start = pos + 9
                end = start + length
                if length > f.DEFAULT_MAX_FRAME_SIZE:  # our SETTINGS_MAX_FRAME_SIZE (§4.2)
                    raise FrameError(f.FRAME_SIZE_ERROR, f"frame of {length} bytes")
                if end > total:
                    break
                pos = end
                sid &= f.MAX_STREAM_ID
                if self._continuation is not None and ftype != f.CONTINUATION:
                    raise FrameError(f.PROTOCOL_ERROR, "expected CONTINUATION")
                if ftype == f.HEADERS:
                    if flags & _PLAIN_HEADERS_MASK == f.FLAG_END_HEADERS and sid:  # the usual answer
                        self._on_header_block(sid, data[start:end], flags & f.FLAG_END_STREAM != 0)
                    else:
                        self._on_headers_frame(flags, sid, data[start:end])
                elif ftype == f.DATA:
                    self._on_data(flags, sid, data[start:end], length)
                else:
                    self._on_control(ftype, flags, sid, data[start:end])
        except FrameError as exc:
            self._protocol_error(exc.code, str(exc))
            return
        except FlowControlError as exc:
            self._protocol_error(f.FLOW_CONTROL_ERROR, str(exc))
            return
        self._inbuf = data[pos:] if pos < total else b""
        if self._out:
            self._schedule_flush()

    def _on_headers_frame(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise FrameError(f.PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & f.FLAG_PADDED:
            payload = f.unpad(payload)
        if flags & f.FLAG_PRIORITY:
            payload = payload[5:]
        if flags & f.FLAG_END_HEADERS:
            self._on_header_block(sid, payload, bool(flags & f.FLAG_END_STREAM))
        else:
            self._continuation = (sid, bytearray(payload), bool(flags & f.FLAG_END_STREAM))

    def _on_header_block(self, sid: int, block: bytes, end_stream: bool) -> None:
        try:  # always decode: the HPACK dynamic table must stay in step (RFC 7541 §2.3.2)
            status, headers = self._headers.decode(block)
        except ValueError as exc:  # HPACKDecodeError, HuffmanError
            raise FrameError(f.COMPRESSION_ERROR, f"bad header block: {exc}") from exc
        request = self._streams.get(sid)
        if request is None:
            return  # a stream we cancelled
        if request.status == 0:
            if status < 100:
                self._stream_error(sid, request, f"response without a valid :status ({status})")
                return
            if status < 200:
                return  # interim response (RFC 9113 §8.1); the final one follows
            request.status = status
            request.headers = headers
        else:  # trailers: kept with the headers
            request.headers.extend(headers)
        if end_stream:
            self._complete(sid, request)

    def _on_data(self, flags: int, sid: int, payload: bytes, length: int) -> None:
        if sid == 0:
            raise FrameError(f.PROTOCOL_ERROR, "DATA on stream 0")
        self._recv_unacked += length  # padding counts too (§6.9.1)
        if self._recv_unacked >= CONNECTION_WINDOW // 2:
            self._out += f.window_update(0, self._recv_unacked)
            self._recv_unacked = 0
        request = self._streams.get(sid)
        if request is None:
            return
        if request.status == 0:
            self._stream_error(sid, request, "DATA before response HEADERS")
            return
        if flags & f.FLAG_PADDED:
            payload = f.unpad(payload)
        if payload:
            if request.chunks is None:
                request.chunks = [payload]
            else:
                request.chunks.append(payload)
        if flags & f.FLAG_END_STREAM:
            self._complete(sid, request)
            return
        request.received += length
        if request.received >= STREAM_WINDOW // 2:
            self._out += f.window_update(sid, request.received)
            request.received = 0

    def _complete(self, sid: int, request: Request) -> None:
        del self._streams[sid]
        if self._flow.blocked and self._flow.forget(sid):
            # Answered before we finished the body (§8.1): stop sending it.
            self._out += f.rst_stream(sid, f.NO_ERROR)
        chunks = request.chunks
        body = b"" if chunks is None else chunks[0] if len(chunks) == 1 else b"".join(chunks)
        request.conn = None
        self._owner._complete(request, Response.from_fields(request.status, request.headers, body))
        self._stream_done()

    def _stream_error(self, sid: int, request: Request, message: str) -> None:
        """A malformed response (RFC 9113 §8.1.1): reset the stream, fail the request."""
        self.cancel(request, f.PROTOCOL_ERROR)
        self._owner._fail(request, ProtocolViolation(message))

    def _on_control(self, ftype: int, flags: int, sid: int, payload: bytes) -> None:
        if ftype == f.SETTINGS:
            if not flags & f.FLAG_ACK:
                self._on_settings(payload)
        elif ftype == f.WINDOW_UPDATE:
            self._on_window_update(sid, payload)
        elif ftype == f.RST_STREAM:
            self._on_rst_stream(sid, payload)
        elif ftype == f.PING:
            if len(payload) != 8:
                raise FrameError(f.FRAME_SIZE_ERROR, "PING payload is not 8 bytes")
            if not flags & f.FLAG_ACK:
                self._out += f.frame(f.PING, f.FLAG_ACK, 0, payload)
            elif self.keepalive is not None:
                self.keepalive.acked(payload)
        elif ftype == f.GOAWAY:
            self._on_goaway(payload)
        elif ftype == f.CONTINUATION:
            self._on_continuation(flags, sid, payload)
        elif ftype == f.PUSH_PROMISE:
            raise FrameError(f.PROTOCOL_ERROR, "PUSH_PROMISE with push disabled")
        # PRIORITY and unknown frame types are ignored (§5.5, §6.3).

    def _on_continuation(self, flags: int, sid: int, payload: bytes) -> None:
        pending = self._continuation
        if pending is None or pending[0] != sid:
            raise FrameError(f.PROTOCOL_ERROR, "unexpected CONTINUATION")
        pending[1].extend(payload)
        if flags & f.FLAG_END_HEADERS:
            self._continuation = None
            self._on_header_block(sid, bytes(pending[1]), pending[2])

    def _on_settings(self, payload: bytes) -> None:
        if len(payload) % 6:
            raise FrameError(f.FRAME_SIZE_ERROR, "SETTINGS length is not a multiple of 6")
        limit: int | None = None
        flow = self._flow
        for ident, value in f.parse_settings(payload):
            if ident == f.SETTINGS_MAX_CONCURRENT_STREAMS:
                limit = value
            elif ident == f.SETTINGS_INITIAL_WINDOW_SIZE:
                flow.set_initial_window(value)
            elif ident == f.SETTINGS_MAX_FRAME_SIZE:
                if not f.DEFAULT_MAX_FRAME_SIZE <= value <= f.MAX_FRAME_SIZE_LIMIT:
                    raise FrameError(f.PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range")
                flow.max_frame = value
        if limit is not None:
            self.max_concurrent_streams = limit
        elif not self.settings_received:
            self.max_concurrent_streams = _UNLIMITED  # §6.5.2: no limit unless one is set
        self.settings_received = True
        self._out += f.SETTINGS_ACK
        if flow.blocked:
            flow.resume(self._out)
        self._owner._slot_freed(self)

    def _on_window_update(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise FrameError(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes")
        increment = f.unpack_u32(payload) & f.MAX_WINDOW
        flow = self._flow
        if sid == 0:
            flow.connection_credit(increment)
        else:
            flow.stream_credit(sid, increment)
        if flow.blocked:
            flow.resume(self._out)

    def _on_rst_stream(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise FrameError(f.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes")
        request = self._streams.pop(sid, None)
        self._flow.forget(sid)
        if request is None:
            return
        request.conn = None
        code = f.unpack_u32(payload)
        if code == f.REFUSED_STREAM:  # §8.7: not processed, safe to resend
            self._owner._resend([request])
        else:
            message = f"stream reset by the server (code {code:#x})"
            self._owner._fail(request, StreamReset(message, error_code=code))
        self._stream_done()

    def _on_goaway(self, payload: bytes) -> None:
        if len(payload) < 8:
            raise FrameError(f.FRAME_SIZE_ERROR, "GOAWAY payload too short")
        last, code, debug = f.unpack_goaway(payload)
        self.goaway = (last, code, debug)
        self.draining = True
        # §6.8: streams above last_stream_id were not processed; resend them elsewhere.
        above = [sid for sid in self._streams if sid > last]
        unprocessed = []
        for sid in above:
            request = self._streams.pop(sid)
            self._flow.forget(sid)
            request.conn = None
            unprocessed.append(request)
        self._owner._goaway(self, unprocessed)
        if not self._streams:
            self.close()
