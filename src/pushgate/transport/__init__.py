"""The HTTP/2 send path: a lean client connection, its pool, and HPACK helpers.

Usage (APNs shape)::

    pool = H2Pool("https://api.push.apple.com", ssl_context=ctx, max_connections=2)
    pseudo = HeaderBlock.encode([(":method", "POST"), (":scheme", "https"),
                                 (":authority", pool.authority)])
    fields = HeaderBlock.encode([("apns-topic", "com.example"), ("apns-push-type", "alert")])
    block = (pseudo + HeaderBlock.encode([(":path", "/3/device/" + token)])
             + fields + HeaderBlock.encode([("authorization", "bearer " + jwt)]))
    response = await pool.request(block, body)   # a Future; response.status, .header(), .body

Bulk senders use the callback form instead, which costs no future and no
scheduled callback per request (``LiteralField`` makes a per-request field
from a cached prefix)::

    path = LiteralField(":path")
    pool.send(pseudo + path.encode("/3/device/" + token) + fields, body, on_answer, tag)
    # later, once: on_answer(tag, response, None) or on_answer(tag, None, error)

Blocks concatenate in any order, but pseudo-headers must come before every
regular header (RFC 9113 §8.3); a server answers a block that breaks this
with a connection error.

Contract (for ``send``, read "the callback gets" for "the future fails with"):
- ``request`` never raises synchronously; it returns an ``asyncio.Future[Response]``.
- Requests beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS wait in a
  queue (no busy-wait) and start as streams close; the limit follows SETTINGS
  changes at any time.
- On GOAWAY, requests on streams above ``last_stream_id`` and requests not yet
  started are re-sent on another (new) connection by the pool, transparently:
  the caller sees one answer. Same for RST_STREAM REFUSED_STREAM.
- If a connection drops with requests in flight, those futures fail with
  :class:`ConnectionLost` (the server may or may not have processed them);
  the next request opens a new connection. A connection that receives
  nothing for ``ping_interval`` seconds is sent a PING (RFC 9113 §6.7); no
  answer within ``ping_timeout`` counts as such a drop.
- The future fails with :class:`RequestTimeout` after ``request_timeout``;
  after ``retire_after_timeouts`` timeouts in a row with no answer between,
  a connection takes no new requests and closes once its streams end.
- Another RST_STREAM code fails the future with :class:`StreamReset`.
- A response body past ``max_response_body`` (64 KiB) resets its stream and
  fails with :class:`ResponseTooLarge`; a malformed response (RFC 9113
  §8.1.1) fails with :class:`ProtocolViolation`, its connection unharmed.
- A server that answers in HTTP/1.x, or picks another protocol in ALPN,
  fails every request with :class:`HTTP2NotNegotiated`, which is also a
  :class:`pushgate.errors.ConfigurationError`: retrying will not help.
- After a connection that answered nothing, the next one waits, with
  exponential backoff and jitter (``backoff.py``).
- All failures are subclasses of :class:`pushgate.errors.TransportError`.

Modules: ``hpack_block`` (stateless request header blocks), ``hpack_decode``
and ``huffman`` (response header decoding), ``hpack_tables`` (RFC 7541's
static table and Huffman code), ``frames`` (RFC 9113 constants and frame
builders), ``connection`` (the frame layer, and why it is hand-written; its
layers ``core``, ``responses`` and ``control``), ``flow`` (our sending side
of flow control), ``stream`` (one request's state), ``pool`` (queueing,
resends, connection choice), ``backoff`` (reconnect delays), ``deadlines``
(the timeout sweep), ``keepalive`` (PING health checks), ``errors``,
``tls`` (client contexts).
"""

from __future__ import annotations

from pushgate.transport.connection import ClientConnection
from pushgate.transport.errors import (
    ConnectFailed,
    ConnectionLost,
    HTTP2NotNegotiated,
    ProtocolViolation,
    RequestTimeout,
    ResponseTooLarge,
    StreamNotProcessed,
    StreamReset,
)
from pushgate.transport.hpack_block import HeaderBlock, LiteralField
from pushgate.transport.pool import H2Pool
from pushgate.transport.response import Response

__all__ = [
    "ClientConnection",
    "ConnectFailed",
    "ConnectionLost",
    "H2Pool",
    "HTTP2NotNegotiated",
    "HeaderBlock",
    "LiteralField",
    "ProtocolViolation",
    "RequestTimeout",
    "Response",
    "ResponseTooLarge",
    "StreamNotProcessed",
    "StreamReset",
]
