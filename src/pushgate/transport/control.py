"""Connection-level frames from the server: SETTINGS, PING, GOAWAY,
WINDOW_UPDATE and RST_STREAM (RFC 9113 §6.4-§6.9).

Protocol duties kept: SETTINGS ACK and the peer's SETTINGS applied at
once (§6.5; SETTINGS_MAX_CONCURRENT_STREAMS at all times, §5.1.2, with no
limit unless one is set, §6.5.2), PING ACK (§6.7), GOAWAY's unprocessed
streams handed back for a resend (§6.8), RST_STREAM REFUSED_STREAM resent
(§8.7), both flow-control windows (§6.9; the sending side in ``flow.py``).
PRIORITY and unknown frame types are ignored (§5.5, §6.3).
"""

from __future__ import annotations

from pushgate.transport import frames as f
from pushgate.transport.core import ConnectionCore
from pushgate.transport.errors import StreamReset
from pushgate.transport.frames import FrameError
from pushgate.transport.stream import Request

_UNLIMITED = f.MAX_STREAM_ID


class ControlFrames(ConnectionCore):
    """The handlers of every frame type except HEADERS, CONTINUATION and DATA."""

    def _on_control(self, ftype: int, flags: int, sid: int, payload: bytes) -> None:
        if ftype == f.SETTINGS:
            if sid:  # §6.5
                raise FrameError(f.PROTOCOL_ERROR, f"SETTINGS on stream {sid}")
            if not flags & f.FLAG_ACK:
                self._on_settings(payload)
            elif payload:
                raise FrameError(f.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
        elif ftype == f.WINDOW_UPDATE:
            self._on_window_update(sid, payload)
        elif ftype == f.RST_STREAM:
            self._on_rst_stream(sid, payload)
        elif ftype == f.PING:
            if sid:  # §6.7
                raise FrameError(f.PROTOCOL_ERROR, f"PING on stream {sid}")
            if len(payload) != 8:
                raise FrameError(f.FRAME_SIZE_ERROR, "PING payload is not 8 bytes")
            if not flags & f.FLAG_ACK:
                self._queue_ack(f.frame(f.PING, f.FLAG_ACK, 0, payload))
            elif self.keepalive is not None:
                self.keepalive.acked(payload)
        elif ftype == f.GOAWAY:
            if sid:  # §6.8
                raise FrameError(f.PROTOCOL_ERROR, f"GOAWAY on stream {sid}")
            self._on_goaway(payload)
        elif ftype == f.PUSH_PROMISE:
            raise FrameError(f.PROTOCOL_ERROR, "PUSH_PROMISE with push disabled")
        # PRIORITY and unknown frame types are ignored (§5.5, §6.3).

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
        self._queue_ack(f.SETTINGS_ACK)
        if flow.blocked:
            flow.resume(self._out)
        self._owner._slot_freed(self)

    def _on_window_update(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise FrameError(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes")
        increment = f.unpack_u32(payload) & f.MAX_WINDOW
        flow = self._flow
        if sid == 0:
            if not increment:  # §6.9: on the connection, a connection error
                raise FrameError(f.PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection")
            flow.connection_credit(increment)
        else:
            request = self._streams.get(sid)
            if request is None:
                if self._idle(sid):  # §5.1
                    raise FrameError(f.PROTOCOL_ERROR, f"WINDOW_UPDATE on idle stream {sid}")
                return  # a stream that ended: nothing to send on it
            if not increment:  # §6.9: on a stream, a stream error
                self._stream_error(sid, request, "WINDOW_UPDATE of 0 on the stream")
                return
            if self._stream_window(sid, request) + increment > f.MAX_WINDOW:  # §6.9.1
                self._stream_error(sid, request, "stream window above 2^31-1", f.FLOW_CONTROL_ERROR)
                return
            if not flow.stream_credit(sid, increment):
                credit = self._credit
                if len(credit) > 1024:  # forget streams that ended (kept off the per-request path)
                    self._credit = credit = {k: v for k, v in credit.items() if k in self._streams}
                credit[sid] = credit.get(sid, 0) + increment
        if flow.blocked:
            flow.resume(self._out)

    def _stream_window(self, sid: int, request: Request) -> int:
        """Our send window on a stream: tracked while its body waits for credit
        (``flow.py``); once the body is out it is the initial window (which
        already moved with any SETTINGS change, §6.9.2) less the body, plus
        the credit granted since."""
        window = self._flow.stream_window(sid)
        if window is not None:
            return window
        return self._flow.initial_window - len(request.body) + self._credit.get(sid, 0)

    def _on_rst_stream(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise FrameError(f.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes")
        request = self._streams.pop(sid, None)
        if request is None:  # nginx resets every stream it answered: keep this path short
            if not sid & 1 or sid >= self._next_stream_id:  # §6.4: stream 0, or idle (§5.1)
                raise FrameError(f.PROTOCOL_ERROR, f"RST_STREAM on {'idle stream' if sid else 'stream 0'}")
            return
        self._flow.forget(sid)
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
