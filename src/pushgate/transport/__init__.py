"""The HTTP/2 send path: a lean client connection, its pool, and HPACK helpers.

INTERFACE STUB: this is the contract providers code against; the
implementation replaces the bodies (see transport/connection.py, pool.py).

Usage (APNs shape)::

    pool = H2Pool("https://api.push.apple.com", ssl_context=ctx, max_connections=2)
    constant = HeaderBlock.encode([(":method", "POST"), (":scheme", "https"),
                                   (":authority", "api.push.apple.com"),
                                   ("apns-topic", "com.example"), ("apns-push-type", "alert")])
    block = constant + HeaderBlock.encode([(":path", "/3/device/" + token),
                                           ("authorization", "bearer " + jwt)])
    response = await pool.request(block, body)   # a Future; response.status, .header(), .body

Contract:
- ``request`` never raises synchronously; it returns an ``asyncio.Future[Response]``.
- Requests beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS wait in a
  queue (no busy-wait) and start as streams close; the limit follows SETTINGS
  changes at any time.
- On GOAWAY, requests on streams above ``last_stream_id`` and requests not yet
  started are re-sent on another (new) connection by the pool, transparently:
  the caller sees one answer. Same for RST_STREAM REFUSED_STREAM.
- If a connection drops with requests in flight, those futures fail with
  :class:`ConnectionLost` (the server may or may not have processed them);
  the next request opens a new connection.
- The future fails with :class:`RequestTimeout` after ``request_timeout``.
- All failures are subclasses of :class:`pushgate.errors.TransportError`.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from pushgate.errors import TransportError


class ConnectionLost(TransportError):
    """The connection dropped while the request was in flight (it may have been processed)."""


class StreamNotProcessed(TransportError):
    """The server said it did not process the request (GOAWAY above it, REFUSED_STREAM)."""


class RequestTimeout(TransportError):
    """No answer within the request timeout."""


class ConnectFailed(TransportError):
    """TCP or TLS connection could not be made."""


class HTTP2NotNegotiated(TransportError):
    """The server did not agree to HTTP/2 (ALPN chose something else)."""


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]  # lowercase names
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class HeaderBlock(bytes):
    """An HPACK header block fragment made only of stateless representations
    (literal without indexing, or static-table indexed), so a block encoded
    once is valid on every connection and blocks concatenate with ``+``."""

    @classmethod
    def encode(cls, headers: list[tuple[str, str]]) -> HeaderBlock:
        raise NotImplementedError

    def __add__(self, other: bytes) -> HeaderBlock:  # type: ignore[override]
        return HeaderBlock(bytes(self) + bytes(other))


class H2Pool:
    """HTTP/2 connections to one origin."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 1,
        connect_timeout: float = 10.0,
        request_timeout: float | None = 30.0,
        max_resends: int = 3,
    ) -> None:
        raise NotImplementedError

    @property
    def authority(self) -> str:
        """``host[:port]`` as it goes in ``:authority``."""
        raise NotImplementedError

    @property
    def scheme(self) -> str:
        raise NotImplementedError

    def request(self, headers: HeaderBlock, body: bytes = b"") -> asyncio.Future[Response]:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError
