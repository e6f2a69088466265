"""A raw ``h2``-library client for the wire-level tests (SETTINGS values,
RST_STREAM codes and GOAWAY frames as they arrive, connecting with no ALPN).

Its own module (not conftest.py) so test files import it by a name no other
test directory uses: ``from conftest import ...`` picks whichever conftest
was imported first when several test directories run together.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import h2.config
import h2.connection
import h2.events
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame

# A guard against a hung test, never a timing assertion.
GUARD = 20.0


@dataclass
class RawStream:
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset_code: int | None = None

    @property
    def status(self) -> int:
        return int(dict(self.headers)[":status"])


class RawH2Client:
    """A minimal HTTP/2 client on the ``h2`` state machine over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.streams: dict[int, RawStream] = {}
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.settings_seen: list[dict[int, int]] = []
        self.eof = False
        # The h2 state machine refuses HEADERS after a GOAWAY (it closes the
        # connection state), but RFC 9113 §6.8 lets the server keep answering
        # streams up to last_stream_id: raw mode parses frames itself.
        self.raw = False
        self._raw_buffer = bytearray()

    @classmethod
    async def open(cls, host: str, port: int, context: ssl.SSLContext | None = None) -> RawH2Client:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if context else None
        )
        client = cls(reader, writer)
        client.h2.initiate_connection()
        client.writer.write(client.h2.data_to_send())
        return client

    def request(self, path: str, body: bytes = b"", method: str = "POST") -> int:
        sid: int = self.h2.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "https"), (":authority", "localhost"), (":path", path)]
        self.h2.send_headers(sid, headers, end_stream=not body)
        if body:
            self.h2.send_data(sid, body, end_stream=True)
        self.streams[sid] = RawStream()
        self.writer.write(self.h2.data_to_send())
        return sid

    async def run_until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD):
            while not done() and not self.eof:
                data = await self.reader.read(65536)
                if not data:
                    self.eof = True
                    break
                if self.raw:
                    self._raw_frames(data)
                    continue
                for event in self.h2.receive_data(data):
                    self._on_event(event)
                out = self.h2.data_to_send()
                if out:
                    self.writer.write(out)

    def _raw_frames(self, data: bytes) -> None:
        buffer = self._raw_buffer
        buffer += data
        while len(buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(bytes(buffer[9 : 9 + length])))
            del buffer[: 9 + length]
            stream = self.streams.get(frame.stream_id)
            if isinstance(frame, HeadersFrame) and stream is not None:
                decoded = self.h2.decoder.decode(frame.data)
                stream.headers = [(str(k), str(v)) for k, v in decoded]
                stream.ended = "END_STREAM" in frame.flags
            elif isinstance(frame, DataFrame) and stream is not None:
                stream.body += frame.data
                stream.ended = "END_STREAM" in frame.flags
            elif isinstance(frame, RstStreamFrame) and stream is not None:
                stream.reset_code = frame.error_code
            elif isinstance(frame, GoAwayFrame):
                event = h2.events.ConnectionTerminated()
                event.last_stream_id = frame.last_stream_id
                event.error_code = frame.error_code
                event.additional_data = frame.additional_data
                self.goaway = event

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            self.streams[event.stream_id].headers = cast(list[tuple[str, str]], list(event.headers))
        elif isinstance(event, h2.events.DataReceived):
            self.streams[event.stream_id].body += event.data
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.streams[event.stream_id].ended = True
        elif isinstance(event, h2.events.StreamReset):
            self.streams[event.stream_id].reset_code = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_seen.append({int(k): v.new_value for k, v in event.changed_settings.items()})

    def finished(self, *sids: int) -> Callable[[], bool]:
        return lambda: all(self.streams[s].ended or self.streams[s].reset_code is not None for s in sids)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
