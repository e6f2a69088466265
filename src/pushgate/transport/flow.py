"""Our sending side of HTTP/2 flow control (RFC 9113 §5.2, §6.9).

Request bodies for push are small, so the common case is one DATA frame
that fits both windows and the peer's MAX_FRAME_SIZE, written at once. A
body that does not fit waits here, per stream, and goes on when a
WINDOW_UPDATE or a larger SETTINGS_INITIAL_WINDOW_SIZE gives credit.
Stream windows are tracked only for streams that still have data to send:
once a body is out, its window no longer matters.
"""

from __future__ import annotations

from pushgate.transport import frames as f
from pushgate.transport.stream import Request

_pack = f.FRAME_HEADER.pack


class FlowControlError(Exception):
    """The peer pushed a window beyond 2^31-1 (RFC 9113 §6.9.1)."""


class _Blocked:
    __slots__ = ("offset", "request", "window")

    def __init__(self, request: Request, offset: int, window: int) -> None:
        self.request = request
        self.offset = offset
        self.window = window


class SendFlow:
    """Connection credit, the peer's initial stream window and frame size, blocked bodies."""

    __slots__ = ("blocked", "initial_window", "max_frame", "window")

    def __init__(self) -> None:
        self.window = f.DEFAULT_WINDOW  # connection-level credit (§6.9.1)
        self.initial_window = f.DEFAULT_WINDOW  # peer's SETTINGS_INITIAL_WINDOW_SIZE
        self.max_frame = f.DEFAULT_MAX_FRAME_SIZE  # peer's SETTINGS_MAX_FRAME_SIZE
        self.blocked: dict[int, _Blocked] = {}

    def send(self, out: bytearray, sid: int, request: Request, offset: int = 0, window: int = -1) -> None:
        """Append DATA frames for ``request.body[offset:]`` as far as credit allows."""
        if window < 0:
            window = self.initial_window
        body = request.body
        total = len(body)
        max_frame = self.max_frame
        while offset < total:
            size = min(total - offset, window, self.window, max_frame)
            if size <= 0:
                self.blocked[sid] = _Blocked(request, offset, window)
                return
            end = offset + size
            out += _pack(size >> 8, size & 0xFF, f.DATA, f.FLAG_END_STREAM if end == total else 0, sid)
            out += body if size == total else memoryview(body)[offset:end]
            offset = end
            window -= size
            self.window -= size
        self.blocked.pop(sid, None)

    def resume(self, out: bytearray) -> None:
        """Send what new credit allows, oldest blocked stream first."""
        for sid, entry in list(self.blocked.items()):
            if self.window <= 0:
                break
            if entry.window > 0:
                self.send(out, sid, entry.request, entry.offset, entry.window)

    def forget(self, sid: int) -> bool:
        """Drop a stream's unsent body; True if there was one."""
        return self.blocked.pop(sid, None) is not None

    def connection_credit(self, increment: int) -> None:
        self.window += increment
        if self.window > f.MAX_WINDOW:
            raise FlowControlError("connection window above 2^31-1")

    def stream_credit(self, sid: int, increment: int) -> bool:
        """Credit a stream whose body waits; False if it has none waiting."""
        entry = self.blocked.get(sid)
        if entry is None:
            return False
        entry.window += increment
        return True

    def stream_window(self, sid: int) -> int | None:
        """The send window of a stream whose body waits, None for any other."""
        entry = self.blocked.get(sid)
        return None if entry is None else entry.window

    def set_initial_window(self, value: int) -> None:
        """§6.9.2: a new initial window shifts every open stream's window by the difference."""
        if value > f.MAX_WINDOW:
            raise FlowControlError("SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
        delta = value - self.initial_window
        self.initial_window = value
        for entry in self.blocked.values():
            entry.window += delta
