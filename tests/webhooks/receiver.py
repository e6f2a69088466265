"""A webhook receiver for tests: a real HTTPS/1.1 server on loopback (asyncio + h11).

It records every request and answers the statuses queued in ``answers`` in
turn (then 200); a 3xx answer carries a ``Location`` so a client that
followed redirects would be caught doing it (``redirected`` counts requests
to the redirect target).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass, field
from typing import Any

import h11


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    context: ssl.SSLContext
    host: str = "127.0.0.1"
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    redirected: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    def url(self, path: str = "/hooks/pushgate", host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def events(self) -> list[dict[str, Any]]:
        """Every event received so far, in the order of arrival."""
        return [event for request in self.received if request.path != "/elsewhere"
                for event in request.json()["events"]]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await self._read(connection, reader)
                if request is None:
                    return
                path = request.target.decode()
                headers = {k.decode().lower(): v.decode() for k, v in request.headers}
                if path == "/elsewhere":
                    self.redirected += 1
                self.received.append(Received(path, headers, body))
                status = self.answers.pop(0) if self.answers else 200
                reply_headers = [("content-length", "2"), ("content-type", "text/plain")]
                if 300 <= status < 400:
                    reply_headers.append(("location", self.url("/elsewhere")))
                writer.write(connection.send(h11.Response(status_code=status, headers=reply_headers)) or b"")
                writer.write(connection.send(h11.Data(data=b"ok")) or b"")
                writer.write(connection.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if connection.our_state is h11.MUST_CLOSE:
                    return
                connection.start_next_cycle()
        except (ConnectionError, ssl.SSLError, h11.RemoteProtocolError):
            return
        finally:
            writer.close()

    @staticmethod
    async def _read(
        connection: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        body = b""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                connection.receive_data(data)
                if not data and request is None:
                    return None, b""
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return request, body
            elif isinstance(event, h11.ConnectionClosed):
                return None, b""
