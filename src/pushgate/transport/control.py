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

_UNLIMITED = f.MAX_STREAM_ID


class ControlFrames(ConnectionCore):
    """The handlers of every frame type except HEADERS, CONTINUATION and DATA."""

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
