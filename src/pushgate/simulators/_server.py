"""The socket server under every simulator: HTTP/2 (``h2``) and HTTP/1.1 (``h11``).

INTERFACE STUB: the types below are the contract simulators code against;
``SimServer`` is implemented in the transport work.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ResetStream:
    """Answer a request with RST_STREAM (HTTP/2) or a closed connection (HTTP/1.1)."""

    error_code: int = 0x2  # INTERNAL_ERROR


@dataclass(slots=True)
class GoAway:
    """Send GOAWAY and close once in-flight streams up to ``last_stream_id`` are answered.

    ``last_stream_id=None`` means "the stream before this request", so this
    request and every later one count as not processed (the client may resend
    them on a new connection). The request itself gets no answer.
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
    """One client connection as the handler sees it."""

    def __init__(self, conn_id: int, http_version: str, peer_cert: dict[str, Any] | None) -> None:
        self.id = conn_id
        self.http_version = http_version  # "2" or "1.1"
        self.peer_cert = peer_cert  # ssl.SSLSocket.getpeercert() form, when a client cert was sent
        self.state: dict[str, Any] = {}  # free for the simulator (e.g. JWT seen on this connection)
        self.requests = 0

    def update_settings(self, *, max_concurrent_streams: int) -> None:
        """Send a new SETTINGS frame (HTTP/2 only; a no-op on HTTP/1.1)."""
        raise NotImplementedError


@dataclass(slots=True)
class SimRequest:
    method: str
    path: str  # with the query string
    headers: list[tuple[str, str]]  # lowercase names, in order, repeats kept
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


class SimServer:
    """Serves ``handler`` over TLS (ALPN h2 / http/1.1, or no ALPN) or plaintext."""

    def __init__(
        self,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        http1: bool = True,
        http2: bool = True,
        max_concurrent_streams: int = 1000,
        on_connect: ConnectHook | None = None,
    ) -> None:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def connections(self) -> list[SimConnection]:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError
