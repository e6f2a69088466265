"""The socket server under every simulator: HTTP/2 (``h2``) and HTTP/1.1 (``h11``).

One listener serves both protocols, the way the real services' front ends
do. With TLS the ALPN result decides (RFC 7301): ``h2`` is HTTP/2,
``http/1.1`` is HTTP/1.1. A client that offers no ALPN at all is sniffed:
Apple accepts such a client speaking HTTP/2 straight away and aioapns relies
on it (docs/protocols/apns.md §8), so bytes starting with the HTTP/2 connection
preface (RFC 9113 §3.4) select HTTP/2, anything else HTTP/1.1. Plaintext
connections are sniffed the same way (h2c with prior knowledge, RFC 9113
§3.3).

The handler gets each complete request in its own task and returns a
:data:`SimAction`; answers may complete out of order. ``on_connect`` runs
before the server's first SETTINGS frame, so a simulator can choose the
initial stream limit per connection (APNs token mode starts at 1,
docs/protocols/apns.md §7).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from pushgate.simulators._server_h1 import H1Session
from pushgate.simulators._server_h2 import H2Session
from pushgate.simulators._server_types import (
    ConnectHook,
    DropConnection,
    GoAway,
    Handler,
    ResetStream,
    SimAction,
    SimConnection,
    SimRequest,
    SimResponse,
)

__all__ = [
    "ConnectHook",
    "DropConnection",
    "GoAway",
    "Handler",
    "ResetStream",
    "SimAction",
    "SimConnection",
    "SimRequest",
    "SimResponse",
    "SimServer",
]

log = logging.getLogger("pushgate.simulators")

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # RFC 9113 §3.4

Session = H1Session | H2Session


class _ServerProtocol(asyncio.Protocol):
    """Picks the protocol for one accepted connection, then forwards to its session."""

    def __init__(self, server: SimServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._session: Session | None = None
        self._sniffed = b""
        self._peer_cert: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server._protocols.add(self)
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = None
        if ssl_object is not None:
            alpn = ssl_object.selected_alpn_protocol()
            self._peer_cert = ssl_object.getpeercert() or None
        if alpn == "h2":
            self._begin("2")
        elif alpn == "http/1.1":
            self._begin("1.1")

    def _begin(self, version: str) -> None:
        server = self._server
        transport = self._transport
        assert transport is not None
        if version == "2" and not server.http2:
            log.info("refusing HTTP/2: this simulator serves HTTP/1.1 only")
            transport.close()
            return
        conn = SimConnection(
            server._next_id(),
            version,
            self._peer_cert,
            max_concurrent_streams=server.max_concurrent_streams,
        )
        if server.on_connect is not None:
            try:
                server.on_connect(conn)
            except Exception:
                log.exception("on_connect hook failed")
        server._connections.append(conn)
        session: Session
        if version == "2":
            session = H2Session(transport, conn, server.handler, server._tasks)
        else:
            session = H1Session(transport, conn, server.handler, server._tasks, reject=not server.http1)
        self._session = session
        session.start()

    def data_received(self, data: bytes) -> None:
        session = self._session
        if session is not None:
            session.data_received(data)
            return
        if self._transport is None or self._transport.is_closing():
            return
        # No ALPN (or plaintext): sniff for the HTTP/2 preface.
        self._sniffed += data
        if H2_PREFACE.startswith(self._sniffed[: len(H2_PREFACE)]) and len(self._sniffed) < len(H2_PREFACE):
            return
        buffered, self._sniffed = self._sniffed, b""
        self._begin("2" if buffered.startswith(H2_PREFACE) else "1.1")
        if self._session is not None:
            self._session.data_received(buffered)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._protocols.discard(self)
        if self._session is not None:
            self._session.connection_lost()

    def pause_writing(self) -> None:
        if self._session is not None:
            self._session.pause_writing()

    def resume_writing(self) -> None:
        if self._session is not None:
            self._session.resume_writing()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        elif self._transport is not None:
            self._transport.abort()


class SimServer:
    """Serves ``handler`` over TLS (ALPN h2 / http/1.1, or no ALPN) or plaintext.

    ``connections`` lists every connection accepted since ``start`` (closed
    ones have ``closed`` set), so a test can see that a client reconnected.
    """

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
        self.handler = handler
        self.ssl_context = ssl_context
        self.http1 = http1
        self.http2 = http2
        self.max_concurrent_streams = max_concurrent_streams
        self.on_connect = on_connect
        self._server: asyncio.Server | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._ids = 0
        self._connections: list[SimConnection] = []
        self._protocols: set[_ServerProtocol] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ServerProtocol(self), host, port, ssl=self.ssl_context, backlog=1024
        )
        self._host = host
        self._port = self._server.sockets[0].getsockname()[1]

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SimServer is not running")
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self.port}"

    @property
    def connections(self) -> list[SimConnection]:
        return list(self._connections)

    async def stop(self) -> None:
        """Close the listener and every connection; cancel handlers still running."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for protocol in list(self._protocols):
            protocol.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        # Let the transports run their connection_lost callbacks.
        await asyncio.sleep(0)
