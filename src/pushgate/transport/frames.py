"""HTTP/2 frame constants and the few frames the client builds (RFC 9113 §4, §6).

Hot-path frames (HEADERS, DATA) are packed inline in ``connection.py`` with
:data:`FRAME_HEADER`; the rarer control frames are built here.
"""

from __future__ import annotations

import struct

# RFC 9113 §3.4: the client connection preface.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 §4.1: 24-bit length (as 16 + 8 bits), type, flags, 31-bit stream id.
FRAME_HEADER = struct.Struct(">HBBBL")
FRAME_HEADER_SIZE = 9

# RFC 9113 §6: frame types.
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

# Flags.
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20

# RFC 9113 §6.5.2: settings identifiers.
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

# RFC 9113 §7: error codes.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB
ERROR_NAMES = {
    NO_ERROR: "NO_ERROR", PROTOCOL_ERROR: "PROTOCOL_ERROR", INTERNAL_ERROR: "INTERNAL_ERROR",
    FLOW_CONTROL_ERROR: "FLOW_CONTROL_ERROR", FRAME_SIZE_ERROR: "FRAME_SIZE_ERROR",
    REFUSED_STREAM: "REFUSED_STREAM", CANCEL: "CANCEL", COMPRESSION_ERROR: "COMPRESSION_ERROR",
    ENHANCE_YOUR_CALM: "ENHANCE_YOUR_CALM",
}

# RFC 9113 §6.5.2 / §6.9.1 / §5.1.1: limits.
DEFAULT_WINDOW = 65535
DEFAULT_MAX_FRAME_SIZE = 16384
MAX_FRAME_SIZE_LIMIT = (1 << 24) - 1
MAX_WINDOW = (1 << 31) - 1
MAX_STREAM_ID = (1 << 31) - 1

_SETTING = struct.Struct(">HL")
_U32 = struct.Struct(">L")
_GOAWAY = struct.Struct(">LL")


class FrameError(Exception):
    """A connection error (§5.4.1) found in the server's frames: ``code`` goes in our GOAWAY."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def unpad(payload: bytes) -> bytes:
    """The data of a PADDED frame (§6.1, §6.2): without the length octet and the padding."""
    if not payload or payload[0] >= len(payload):
        raise FrameError(PROTOCOL_ERROR, "bad padding")
    return payload[1 : len(payload) - payload[0]]


def frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    length = len(payload)
    return FRAME_HEADER.pack(length >> 8, length & 0xFF, frame_type, flags, stream_id) + payload


def settings(values: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(_SETTING.pack(k, v) for k, v in values.items()))


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    return [_SETTING.unpack_from(payload, i) for i in range(0, len(payload) - 5, 6)]


SETTINGS_ACK = frame(SETTINGS, FLAG_ACK, 0)


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(increment))


def rst_stream(stream_id: int, error_code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, _U32.pack(error_code))


def goaway(last_stream_id: int, error_code: int, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, _GOAWAY.pack(last_stream_id, error_code) + debug)


def unpack_u32(payload: bytes, offset: int = 0) -> int:
    value: int = _U32.unpack_from(payload, offset)[0]
    return value


def unpack_goaway(payload: bytes) -> tuple[int, int, bytes]:
    last, code = _GOAWAY.unpack_from(payload)
    return last & MAX_STREAM_ID, code, bytes(payload[8:])


def header_frames(out: bytearray, sid: int, block: bytes, end_stream: bool, max_frame: int) -> None:
    """HEADERS then CONTINUATION frames (§6.2, §6.10), none above ``max_frame``."""
    view = memoryview(block)
    pieces = [view[i : i + max_frame] for i in range(0, len(view), max_frame)] or [view]
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        frame_type = HEADERS if index == 0 else CONTINUATION
        flags = FLAG_END_STREAM if index == 0 and end_stream else 0
        if index == last:
            flags |= FLAG_END_HEADERS
        size = len(piece)
        out += FRAME_HEADER.pack(size >> 8, size & 0xFF, frame_type, flags, sid)
        out += piece
