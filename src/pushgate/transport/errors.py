"""Transport failures, all :class:`pushgate.errors.TransportError` (retryable).

They are sorted by what the caller may assume about the request: *not
processed* (safe to resend anywhere), *maybe processed* (the connection died
mid-flight), or *never sent* (connect/TLS/ALPN failures).
"""

from __future__ import annotations

from pushgate.errors import TransportError


class ConnectionLost(TransportError):
    """The connection dropped while the request was in flight (it may have been processed)."""


class StreamNotProcessed(TransportError):
    """The server said it did not process the request (GOAWAY above it, REFUSED_STREAM)."""


class StreamReset(TransportError):
    """The server reset the stream (RST_STREAM, RFC 9113 §6.4) with ``error_code``."""

    def __init__(self, message: str, *, error_code: int) -> None:
        super().__init__(message)
        self.error_code = error_code


class RequestTimeout(TransportError):
    """No answer within the request timeout."""


class ConnectFailed(TransportError):
    """TCP or TLS connection could not be made."""


class HTTP2NotNegotiated(TransportError):
    """The server did not agree to HTTP/2 (ALPN chose something else)."""


class ProtocolViolation(ConnectionLost):
    """The server broke the HTTP/2 protocol, so the connection was closed
    (requests in flight may have been processed, as with any lost connection)."""
