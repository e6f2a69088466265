"""One client HTTP/2 connection: a hand-written frame layer on ``asyncio.Protocol``.

Why hand-written: on this 2-core machine the generic stacks top out far
below what a push gateway needs (docs/architecture.md §7: httpx with HTTP/2 about
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
allows one stream until a request is accepted, docs/protocols/apns.md §7), the
peer's MAX_FRAME_SIZE (§4.2, CONTINUATION for big header blocks, §6.10),
both flow-control windows in both directions (§5.2, §6.9; sending side in
``flow.py``), GOAWAY (§6.8) and RST_STREAM (§6.4).

The class is assembled from layers, one module each: ``core`` (shared
state, the write buffer, closing), ``responses`` (streams: HEADERS,
CONTINUATION, DATA), ``control`` (SETTINGS, PING, GOAWAY, WINDOW_UPDATE,
RST_STREAM); this module adds the socket's life and the read loop.
"""

from __future__ import annotations

import asyncio
from typing import cast

from pushgate.errors import TransportError
from pushgate.transport import frames as f
from pushgate.transport.control import ControlFrames
from pushgate.transport.errors import ConnectFailed, ConnectionLost
from pushgate.transport.flow import FlowControlError
from pushgate.transport.frames import FrameError
from pushgate.transport.keepalive import Keepalive
from pushgate.transport.responses import CONNECTION_WINDOW, STREAM_WINDOW, StreamFrames

_unpack_from = f.FRAME_HEADER.unpack_from
# A HEADERS frame with the whole block and no padding or priority fields.
_PLAIN_HEADERS_MASK = f.FLAG_END_HEADERS | f.FLAG_PADDED | f.FLAG_PRIORITY

__all__ = ["CONNECTION_WINDOW", "STREAM_WINDOW", "ClientConnection"]


class ClientConnection(StreamFrames, ControlFrames, asyncio.Protocol):
    """The client side of one HTTP/2 connection (TLS or h2c prior knowledge)."""

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
        error: type[TransportError]
        lost = self._lost_reason  # set by abandon
        if self._violation is not None:
            error, reason = self._violation
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
                elif ftype == f.CONTINUATION:
                    self._on_continuation(flags, sid, data[start:end])
                else:
                    self._on_control(ftype, flags, sid, data[start:end])
        except FrameError as exc:
            if not self.settings_received and data.startswith(b"HTTP/"):
                self._not_http2(data)  # §3.4: an HTTP/2 server's first frame is SETTINGS
            else:
                self._protocol_error(exc.code, str(exc))
            return
        except FlowControlError as exc:
            self._protocol_error(f.FLOW_CONTROL_ERROR, str(exc))
            return
        self._inbuf = data[pos:] if pos < total else b""
        if self._out:
            self._schedule_flush()
