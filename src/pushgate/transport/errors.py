"""Transport failures, all :class:`pushgate.errors.TransportError` (retryable).

They are sorted by what the caller may assume about the request: *not
processed* (safe to resend anywhere), *maybe processed* (the connection died
mid-flight), or *never sent* (connect/TLS/ALPN failures). One is also a
:class:`pushgate.errors.ConfigurationError`: :class:`HTTP2NotNegotiated`.
"""

from __future__ import annotations

from pushgate.errors import ConfigurationError, TransportError


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


class HTTP2NotNegotiated(ConnectFailed, ConfigurationError):
    """The server does not speak HTTP/2: ALPN chose something else, or it answered
    in HTTP/1.x. A configuration error (a wrong URL or proxy), not a passing
    fault: retrying the same server will not help. Nothing was processed."""


class ResponseTooLarge(TransportError):
    """The response body went past the pool's ``max_response_body``; the stream
    was reset (RFC 9113 §10.5: a client bounds what it buffers)."""


class ProtocolViolation(ConnectionLost):
    """The server broke the HTTP/2 protocol, so the connection was closed
    (requests in flight may have been processed, as with any lost connection)."""
