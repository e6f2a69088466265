"""Streams: a request's HEADERS and DATA out, the response's HEADERS,
CONTINUATION and DATA in (RFC 9113 §5.1, §6.1, §6.2, §6.10, §8.1).

The hot path: request header blocks arrive pre-encoded (:class:`HeaderBlock`,
stateless HPACK), so sending a request is two struct packs and two buffer
appends; response header blocks go through a purpose-built HPACK decoder
(``hpack_decode``). Nothing here schedules a timer or creates a task.
"""

from __future__ import annotations

from pushgate.transport import frames as f
from pushgate.transport.core import FLUSH_AT, ConnectionCore
from pushgate.transport.errors import ResponseTooLarge
from pushgate.transport.frames import FrameError
from pushgate.transport.hpack_decode import MAX_HEADER_LIST_SIZE
from pushgate.transport.response import Response
from pushgate.transport.stream import Request

# Receive windows we grant (RFC 9113 §6.9.2): large, so responses never wait
# for a WINDOW_UPDATE round trip. The connection window is refilled when half
# is used; a stream's never is: a response body is capped (max_response_body,
# at most STREAM_WINDOW), and past the cap the stream is reset, not credited.
STREAM_WINDOW = 1 << 24
CONNECTION_WINDOW = 1 << 30

_pack = f.FRAME_HEADER.pack
_END_HEADERS = f.FLAG_END_HEADERS
_END_BOTH = f.FLAG_END_HEADERS | f.FLAG_END_STREAM


class StreamFrames(ConnectionCore):
    """Opening, answering, cancelling and failing streams."""

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

    def _on_headers_frame(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise FrameError(f.PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & f.FLAG_PADDED:
            payload = f.unpad(payload)
        if flags & f.FLAG_PRIORITY:
            if len(payload) < 5:  # §6.2; §4.2: a frame size error in a field block is a connection error
                raise FrameError(f.FRAME_SIZE_ERROR, "HEADERS too short for its priority fields")
            payload = payload[5:]
        if flags & f.FLAG_END_HEADERS:
            self._on_header_block(sid, payload, bool(flags & f.FLAG_END_STREAM))
        else:
            self._continuation = (sid, bytearray(payload), bool(flags & f.FLAG_END_STREAM))

    def _on_continuation(self, flags: int, sid: int, payload: bytes) -> None:
        pending = self._continuation
        if pending is None or pending[0] != sid:
            raise FrameError(f.PROTOCOL_ERROR, "unexpected CONTINUATION")
        if not payload and not flags & f.FLAG_END_HEADERS:
            self._empty_frame()
        pending[1].extend(payload)
        if len(pending[1]) > MAX_HEADER_LIST_SIZE:  # §10.5: bound what a header block may buffer
            raise FrameError(f.ENHANCE_YOUR_CALM, f"header block above {MAX_HEADER_LIST_SIZE} octets")
        if flags & f.FLAG_END_HEADERS:
            self._continuation = None
            self._on_header_block(sid, bytes(pending[1]), pending[2])

    def _on_header_block(self, sid: int, block: bytes, end_stream: bool) -> None:
        try:  # always decode: the HPACK dynamic table must stay in step (RFC 7541 §2.3.2)
            status, headers = self._headers.decode(block)
        except ValueError as exc:  # HPACKDecodeError, HuffmanError
            raise FrameError(f.COMPRESSION_ERROR, f"bad header block: {exc}") from exc
        request = self._streams.get(sid)
        if request is None:
            if self._idle(sid):  # §5.1: the server cannot open streams
                raise FrameError(f.PROTOCOL_ERROR, f"HEADERS on idle stream {sid}")
            return  # a stream we cancelled
        if request.status == 0:
            if status < 100:  # §8.3.2: :status is three digits
                self._stream_error(sid, request, f"response without a valid :status ({status})")
                return
            if status < 200:  # interim response (§8.1); the final one follows
                if end_stream:  # §8.1: an interim response cannot end the stream: malformed
                    self._stream_error(sid, request, f"interim response ({status}) ends the stream")
                return
            request.status = status
            request.headers = headers
        else:  # trailers: kept with the headers
            request.headers.extend(headers)
        if end_stream:
            self._complete(sid, request)

    def _on_data(self, flags: int, sid: int, payload: bytes, length: int) -> None:
        if sid == 0:
            raise FrameError(f.PROTOCOL_ERROR, "DATA on stream 0")
        if not length and not flags & f.FLAG_END_STREAM:
            self._empty_frame()
        self._recv_unacked += length  # padding counts too (§6.9.1)
        if self._recv_unacked >= CONNECTION_WINDOW // 2:
            self._out += f.window_update(0, self._recv_unacked)
            self._recv_unacked = 0
        request = self._streams.get(sid)
        if request is None:
            if self._idle(sid):  # §5.1
                raise FrameError(f.PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            return
        if request.status == 0:
            self._stream_error(sid, request, "DATA before response HEADERS")
            return
        received = request.received + length
        if received > self._max_body:
            self._too_large(request)
            return
        request.received = received
        if flags & f.FLAG_PADDED:
            payload = f.unpad(payload)
        if payload:
            if request.chunks is None:
                request.chunks = [payload]
            else:
                request.chunks.append(payload)
        if flags & f.FLAG_END_STREAM:
            self._complete(sid, request)

    def _too_large(self, request: Request) -> None:
        """§10.5: a body past the cap is not buffered; the stream is reset
        (CANCEL: we no longer want it) and the request fails."""
        self.cancel(request, f.CANCEL)
        self._owner._fail(
            request, ResponseTooLarge(f"response body above max_response_body ({self._max_body} octets)")
        )

    def _complete(self, sid: int, request: Request) -> None:
        del self._streams[sid]
        if self._flow.blocked and self._flow.forget(sid):
            # Answered before we finished the body (§8.1): stop sending it.
            self._out += f.rst_stream(sid, f.NO_ERROR)
        chunks = request.chunks
        body = b"" if chunks is None else chunks[0] if len(chunks) == 1 else b"".join(chunks)
        request.conn = None
        self.answered += 1
        self._owner._complete(request, Response.from_fields(request.status, request.headers, body))
        self._stream_done()
