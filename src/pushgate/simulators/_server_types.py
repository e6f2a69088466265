"""What a simulator handler sees and answers: requests, connections, actions.

These types are shared by the HTTP/2 and HTTP/1.1 halves of the simulator
socket server and re-exported from :mod:`pushgate.simulators._server`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ResetStream:
    """Answer a request with RST_STREAM (HTTP/2) or a closed connection (HTTP/1.1)."""

    error_code: int = 0x2  # INTERNAL_ERROR (RFC 9113 §7)


@dataclass(slots=True)
class GoAway:
    """Send GOAWAY and close once in-flight streams up to ``last_stream_id`` are answered.

    ``last_stream_id=None`` means "the stream before this request", so this
    request and every later one count as not processed (the client may resend
    them on a new connection). The request itself gets no answer.

    RFC 9113 §6.8: streams above ``last_stream_id`` were not processed, so the
    server also cancels handlers it had already started for them and sends
    them nothing (their effects would contradict the GOAWAY).
    """

    debug_data: bytes = b""
    last_stream_id: int | None = None
    error_code: int = 0  # NO_ERROR


@dataclass(slots=True)
class DropConnection:
    """Close the TCP connection at once, answering nothing."""


@dataclass(slots=True)
class SimResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: list[tuple[str, str]] | None = None
    ) -> SimResponse:
        return cls(
            status,
            [("content-type", "application/json"), *(headers or [])],
            json.dumps(payload, separators=(",", ":")).encode(),
        )


SimAction = SimResponse | ResetStream | GoAway | DropConnection


class SimConnection:
    """One client connection as the handler sees it.

    ``max_concurrent_streams`` is the value the server advertises (or will
    advertise: inside ``on_connect`` it sets the initial SETTINGS frame).
    ``goaway_last_stream_id`` is set once the server has sent GOAWAY, so a test
    can tell which of its handled streams the client was told were processed.
    """

    def __init__(
        self,
        conn_id: int,
        http_version: str,
        peer_cert: dict[str, Any] | None,
        *,
        max_concurrent_streams: int = 1000,
    ) -> None:
        self.id = conn_id
        self.http_version = http_version  # "2" or "1.1"
        self.peer_cert = peer_cert  # ssl.SSLSocket.getpeercert() form, when a client cert was sent
        self.state: dict[str, Any] = {}  # free for the simulator (e.g. JWT seen on this connection)
        self.requests = 0
        self.max_concurrent_streams = max_concurrent_streams
        self.goaway_last_stream_id: int | None = None
        self.closed = False
        # Set by the HTTP/2 session once it exists; before that (in on_connect)
        # update_settings only changes what the initial SETTINGS frame will say.
        self._apply_settings: Callable[[dict[int, int]], None] | None = None
        self.initial_settings: dict[int, int] = {}

    def update_settings(
        self,
        *,
        max_concurrent_streams: int | None = None,
        initial_window_size: int | None = None,
        max_frame_size: int | None = None,
    ) -> None:
        """Send a new SETTINGS frame (HTTP/2 only; a no-op on HTTP/1.1).

        Codes per RFC 9113 §6.5.2: MAX_CONCURRENT_STREAMS 0x3,
        INITIAL_WINDOW_SIZE 0x4, MAX_FRAME_SIZE 0x5.
        """
        changes: dict[int, int] = {}
        if max_concurrent_streams is not None:
            self.max_concurrent_streams = max_concurrent_streams
            changes[0x3] = max_concurrent_streams
        if initial_window_size is not None:
            changes[0x4] = initial_window_size
        if max_frame_size is not None:
            changes[0x5] = max_frame_size
        if self.http_version != "2":
            return
        if self._apply_settings is not None:
            self._apply_settings(changes)
        else:
            self.initial_settings.update(changes)

    def __repr__(self) -> str:
        return f"SimConnection(id={self.id}, http_version={self.http_version!r}, requests={self.requests})"


@dataclass(slots=True)
class SimRequest:
    method: str
    path: str  # with the query string
    headers: list[tuple[str, str]]  # lowercase names, in order, repeats kept (no pseudo-headers)
    body: bytes
    connection: SimConnection
    stream_id: int = 0  # HTTP/2 stream id, 0 on HTTP/1.1

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


Handler = Callable[[SimRequest], Awaitable[SimAction]]
ConnectHook = Callable[[SimConnection], None]


def error_response() -> SimResponse:
    """What a handler exception turns into: a plain 500, the connection stays up."""
    return SimResponse(500, [("content-type", "text/plain")], b"simulator handler error\n")
