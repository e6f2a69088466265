"""HTTP/2 connections to one origin, and the queue in front of them.

The pool follows the server's SETTINGS_MAX_CONCURRENT_STREAMS instead of
guessing or polling (aioapns busy-waits for a free stream in ``acquire()``): a request that finds
no free stream waits in one FIFO queue and starts the moment a stream closes
or a SETTINGS frame raises the limit. Connections are opened lazily, one at a
time, up to ``max_connections``, and only when every open one is at its
limit; each request goes to the connection with the most free streams.

What the server did not process is resent transparently (RFC 9113 §6.8
GOAWAY above ``last_stream_id``, §8.7 REFUSED_STREAM), up to ``max_resends``
times. What may have been processed (a connection lost mid-flight) is
reported as :class:`ConnectionLost`, because only the caller knows whether
a duplicate is acceptable (APNs deduplicates by ``apns-id``, docs/protocols/apns.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as _random
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from pushgate.errors import TransportError
from pushgate.transport.backoff import ReconnectBackoff
from pushgate.transport.connection import ClientConnection
from pushgate.transport.core import DEFAULT_MAX_RESPONSE_BODY, DEFAULT_RETIRE_AFTER_TIMEOUTS, ConnectionCore
from pushgate.transport.deadlines import DeadlineSweep
from pushgate.transport.errors import (
    ConnectFailed,
    ConnectionLost,
    HTTP2NotNegotiated,
    RequestTimeout,
    StreamNotProcessed,
)
from pushgate.transport.hpack_block import HeaderBlock
from pushgate.transport.response import Response
from pushgate.transport.responses import STREAM_WINDOW
from pushgate.transport.stream import Callback, Request
from pushgate.transport.tls import client_context

logger = logging.getLogger("pushgate.transport")

_DEFAULT_PORTS = {"https": 443, "http": 80}
_CLOSE_GRACE = 5.0  # seconds aclose waits for a polite TLS shutdown before aborting


class H2Pool:
    """HTTP/2 connections to one origin (``https://`` with ALPN h2, or ``http://`` h2c)."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 1,
        connect_timeout: float = 10.0,
        request_timeout: float | None = 30.0,
        max_resends: int = 3,
        ping_interval: float | None = 60.0,
        ping_timeout: float = 10.0,
        max_response_body: int = DEFAULT_MAX_RESPONSE_BODY,
        retire_after_timeouts: int = DEFAULT_RETIRE_AFTER_TIMEOUTS,
        reconnect_backoff: float = 0.1,
        max_reconnect_delay: float = 10.0,
        random: Callable[[], float] = _random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``ping_interval``: seconds a connection may receive nothing before an
        HTTP/2 PING checks it; no ACK within ``ping_timeout`` drops it as lost
        (``keepalive.py``). None: no PINGs.

        ``max_response_body``: octets of a response body past which its stream
        is reset and the request fails with :class:`ResponseTooLarge` (at most
        16 MiB, the stream window granted). ``retire_after_timeouts``: request
        timeouts in a row, with no answer between, after which a connection
        takes no new requests. ``reconnect_backoff`` / ``max_reconnect_delay``:
        after a connection that answered nothing, the next one waits
        (``backoff.py``); ``random`` and ``sleep`` are injectable for tests."""
        parts = urlsplit(base_url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"H2Pool needs an http:// or https:// URL with a host, not {base_url!r}")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if (ping_interval is not None and ping_interval <= 0) or ping_timeout <= 0:
            raise ValueError("ping_interval and ping_timeout must be positive")
        if not 0 < max_response_body <= STREAM_WINDOW:
            raise ValueError(f"max_response_body must be between 1 and {STREAM_WINDOW}")
        if retire_after_timeouts < 1:
            raise ValueError("retire_after_timeouts must be at least 1")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or _DEFAULT_PORTS[parts.scheme]
        host = f"[{self._host}]" if ":" in self._host else self._host
        default = self._port == _DEFAULT_PORTS[parts.scheme]
        self._authority = host if default else f"{host}:{self._port}"
        if self._scheme == "https":
            self._ssl: ssl.SSLContext | None = ssl_context if ssl_context is not None else client_context()
        else:
            self._ssl = None
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._max_resends = max_resends
        self._ping = None if ping_interval is None else (ping_interval, ping_timeout)
        self._max_response_body = max_response_body
        self._retire_after_timeouts = retire_after_timeouts
        self._backoff = ReconnectBackoff(reconnect_backoff, max_reconnect_delay, random)
        self._sleep = sleep
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadlines: DeadlineSweep | None = None
        self._queue: deque[Request] = deque()
        self._conns: list[ClientConnection] = []
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False
        self.connections_opened = 0

    # -- public ---------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """``host[:port]`` as it goes in ``:authority`` (default ports omitted)."""
        return self._authority

    @property
    def scheme(self) -> str:
        return self._scheme

    @property
    def connections(self) -> list[ClientConnection]:
        """Open connections, draining ones included (read-only introspection)."""
        return list(self._conns)

    @property
    def queued(self) -> int:
        return sum(1 for request in self._queue if not request.abandoned())

    def request(self, headers: HeaderBlock | bytes, body: bytes = b"") -> asyncio.Future[Response]:
        """Send one request; ``headers`` already holds :method, :scheme, :authority, :path.

        The future resolves to the :class:`Response` or fails with a
        :class:`TransportError`; cancelling it abandons the request.
        """
        future: asyncio.Future[Response] = (self._loop or asyncio.get_running_loop()).create_future()
        self._submit(Request(headers, body, _resolve, future, future))
        return future

    def send(self, headers: HeaderBlock | bytes, body: bytes, callback: Callback, tag: object = None) -> None:
        """Send one request and call ``callback(tag, response, None)`` or
        ``callback(tag, None, error)`` exactly once.

        The bulk senders' path: no future and no ``call_soon`` per request.
        The callback runs inside the connection's ``data_received`` (or at
        once, when the pool is closed), so it must be quick; an exception it
        raises is logged, and does not disturb the connection.
        """
        request = Request(headers, body, callback, tag)
        deadlines = self._deadlines
        if deadlines is not None and not self._queue and not self._closed:  # the common case, inline
            conns = self._conns
            if len(conns) == 1:
                conn: ClientConnection | None = conns[0]
                if conns[0].free_slots() <= 0:
                    conn = None
            else:
                conn = self._best()
            if conn is not None:
                deadlines.add(request)
                conn.start(request)
                return
        self._submit(request)

    def _submit(self, request: Request) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            if self._request_timeout is not None:
                self._deadlines = DeadlineSweep(loop, self._request_timeout, self._expire)
        if self._closed:
            self._fail(request, ConnectionLost("the pool is closed"))
            return
        if self._deadlines is not None:
            self._deadlines.add(request)
        if not self._queue:
            conns = self._conns
            conn = conns[0] if len(conns) == 1 else self._best()
            if conn is not None and conn.free_slots() > 0:
                conn.start(request)
                return
        self._queue.append(request)
        self._pump()

    async def aclose(self) -> None:
        """Fail what is queued, say GOAWAY on every connection and close them."""
        if self._closed:
            return
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        queued, self._queue = self._queue, deque()
        for request in queued:
            self._fail(request, ConnectionLost("the pool was closed"))
        conns = list(self._conns)
        for conn in conns:
            conn.close()
        waiters = [conn.closed_waiter for conn in conns]
        if waiters:
            _, pending = await asyncio.wait(waiters, timeout=_CLOSE_GRACE)
            for conn in conns:
                if not conn.closed_waiter.done():
                    conn.abort()
            if pending:
                await asyncio.wait(pending)
        if self._deadlines is not None:
            self._deadlines.close()

    async def __aenter__(self) -> H2Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- dispatch -------------------------------------------------------------------

    def _best(self) -> ClientConnection | None:
        """The connection with the most free streams, None if none has one."""
        best = None
        most = 0
        for conn in self._conns:
            free = conn.free_slots()
            if free > most:
                best, most = conn, free
        return best

    def _pump(self) -> None:
        queue = self._queue
        while queue:
            request = queue[0]
            if request.abandoned():  # timed out or cancelled while waiting
                queue.popleft()
                continue
            conn = self._best()
            if conn is None:
                self._maybe_open()
                return
            queue.popleft()
            conn.start(request)

    def _maybe_open(self) -> None:
        if self._closed or self._connecting is not None:
            return
        if sum(1 for conn in self._conns if not conn.draining) >= self._max_connections:
            return
        assert self._loop is not None
        self._connecting = self._loop.create_task(self._connect())

    async def _connect(self) -> None:
        assert self._loop is not None
        delay = self._backoff.delay()
        if delay > 0:
            await self._sleep(delay)
        conn = ClientConnection(
            self, self._loop, self._ping,
            max_response_body=self._max_response_body, retire_after_timeouts=self._retire_after_timeouts,
        )
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._loop.create_connection(
                    lambda: conn,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl is not None else None,
                )
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: e.g. a host IDNA rejects
            self._connecting = None
            what = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            error = ConnectFailed(f"cannot connect to {self._scheme}://{self._authority}: {what}")
            error.__cause__ = exc
            self._backoff.failed()
            self._connect_failed(error)
            return
        self._connecting = None
        if conn.closed:
            self._backoff.failed()
            if conn.alpn_refused is None:
                self._connect_failed(ConnectFailed(f"{self._authority} closed the connection at once"))
                return
            self._connect_failed(
                HTTP2NotNegotiated(f"{self._authority} chose {conn.alpn_refused!r} instead of h2 in ALPN")
            )
            return
        if self._closed:
            conn.close()
            return
        self.connections_opened += 1
        self._conns.append(conn)
        self._pump()

    def _connect_failed(self, error: TransportError) -> None:
        """Queued requests fail unless another connection can still serve them."""
        if any(not conn.draining and not conn.closed for conn in self._conns):
            return
        queued, self._queue = self._queue, deque()
        for request in queued:
            self._fail(request, error)

    def _expire(self, request: Request) -> None:
        if request.abandoned():
            return
        conn = request.conn
        if conn is not None:
            conn.timed_out(request)
        self._fail(request, RequestTimeout(f"no answer within {self._request_timeout} s"))

    # -- ConnectionOwner ------------------------------------------------------------

    def _complete(self, request: Request, response: Response) -> None:
        bucket = request.bucket
        if bucket is not None:
            bucket.discard(request)
            request.bucket = None
        if request.finished:
            return
        request.finished = True
        try:
            request.callback(request.tag, response, None)
        except Exception:  # a caller's bug must not break the connection's frame loop
            logger.exception("response callback failed")

    def _fail(self, request: Request, error: TransportError) -> None:
        DeadlineSweep.discard(request)
        if request.finished:
            return
        request.finished = True
        try:
            request.callback(request.tag, None, error)
        except Exception:
            logger.exception("response callback failed")

    def _resend(self, requests: list[Request]) -> None:
        for request in reversed(requests):  # keep their order at the head of the queue
            if request.abandoned():
                continue
            request.resends += 1
            if request.resends > self._max_resends:
                self._fail(
                    request,
                    StreamNotProcessed(f"not processed by the server after {request.resends} attempts"),
                )
            elif self._closed:
                self._fail(request, ConnectionLost("the pool was closed"))
            else:
                self._queue.appendleft(request)
        self._pump()

    def _slot_freed(self, conn: ConnectionCore) -> None:
        if self._queue:
            self._pump()

    def _goaway(self, conn: ConnectionCore, unprocessed: list[Request]) -> None:
        self._backoff.ended(conn)
        self._resend(unprocessed)
        if self._queue:
            self._pump()

    def _connection_lost(self, conn: ConnectionCore) -> None:
        if conn not in self._conns:
            return  # lost before it joined the pool: _connect reports it
        self._conns.remove(conn)
        self._backoff.ended(conn)
        if not conn.settings_received and not self._closed and self._queue:
            # The server hung up before speaking HTTP/2 at all: do not loop
            # reconnecting; the queued requests learn why (HTTP/1.x, bad SETTINGS...).
            self._connect_failed(conn.setup_failure(self._authority))
            return
        if self._queue:
            self._pump()


def _resolve(
    future: asyncio.Future[Response], response: Response | None, error: TransportError | None
) -> None:
    """The callback behind :meth:`H2Pool.request`."""
    if future.done():  # cancelled by its caller
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(response)  # type: ignore[arg-type]
