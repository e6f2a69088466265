"""The HTTP/2 half of the simulator server, on the ``h2`` state machine.

Why ``h2`` here and a hand-written frame layer in the client: the server
must be *faithful* (h2 validates what clients send, the way a real provider
front end would), while the client's job is speed (docs/architecture.md §7).

Efficiency still matters, because this server is the sink for the
Python-vs-Python benchmarks: output is coalesced into one ``transport.write``
per event-loop turn (``h2`` buffers frames until ``data_to_send``), and
response bodies go out without extra copies when they fit the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

from pushgate.simulators._server_headers import request_problem
from pushgate.simulators._server_types import (
    DropConnection,
    GoAway,
    Handler,
    ResetStream,
    SimAction,
    SimConnection,
    SimRequest,
    SimResponse,
    error_response,
)

log = logging.getLogger("pushgate.simulators")

# RFC 9113 §6.5.2 / §6.9: generous receive windows so request bodies stream in
# without waiting for a round trip per 64 KiB.
RECEIVE_WINDOW = 1 << 24
_DEFAULT_WINDOW = 65535


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class _H2Connection(h2.connection.H2Connection):
    """h2 with an O(1) open-stream count on the common path.

    h2 counts open streams by walking its whole stream table for every new
    stream (and only then forgets closed ones): O(n) per request, which made
    this server spend most of its time there with 1,000 streams in flight.
    The server opens no streams itself (no push), so the table size bounds
    the open inbound count from above; the session reports streams that may
    have closed in ``maybe_closed`` so the table stays tight, and h2's exact
    walk runs only when the bound reaches the limit.
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config)
        self.maybe_closed: list[int] = []

    def _open_streams(self, remainder: int) -> int:
        streams = self.streams
        if self.maybe_closed:
            for sid in self.maybe_closed:
                stream = streams.get(sid)
                if stream is not None and stream.closed:
                    del streams[sid]
                    self._closed_streams[sid] = stream.closed_by
            self.maybe_closed.clear()
        if remainder == 1 and len(streams) < self.local_settings.max_concurrent_streams:
            return len(streams)
        return int(super()._open_streams(remainder))


class H2Session:
    """One HTTP/2 server connection (RFC 9113), driven by an asyncio protocol."""

    def __init__(
        self,
        transport: asyncio.Transport,
        conn: SimConnection,
        handler: Handler,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self._transport = transport
        self._conn = conn
        self._handler = handler
        self._server_tasks = tasks
        self._loop = asyncio.get_running_loop()
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=False,  # checked faster in _server_headers
            normalize_inbound_headers=False,  # handlers see headers as sent
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._h2 = _H2Connection(config)
        initial = {
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: conn.max_concurrent_streams,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: RECEIVE_WINDOW,
        }
        self._h2.local_settings = h2.settings.Settings(client=False, initial_values=initial)
        # Other values chosen in on_connect (smaller windows or frames, to test
        # a client's flow control) go in a second SETTINGS frame that h2 applies
        # once the client ACKs it: RFC 9113 §6.9.3 lets the client send under
        # the defaults until it has seen them.
        self._followup: dict[h2.settings.SettingCodes | int, int] = {
            h2.settings.SettingCodes(code): value
            for code, value in conn.initial_settings.items()
            if code != h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS
        }
        self._out = bytearray()  # frames written outside h2 (our own GOAWAY), in order
        self._flush_scheduled = False
        self._paused = False
        self._closed = False
        self._requests: dict[int, tuple[list[tuple[bytes, bytes]], list[bytes]]] = {}
        self._active: set[int] = set()  # streams received and not yet fully answered
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._pending_body: dict[int, tuple[bytes, int]] = {}
        self._goaway_last: int | None = None
        self._peer_goaway = False
        conn._apply_settings = self._update_settings

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Send our preface: SETTINGS (RFC 9113 §3.4) and a connection window raise."""
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(RECEIVE_WINDOW - _DEFAULT_WINDOW)
        if self._followup:
            self._h2.update_settings(self._followup)
        self._schedule_flush()

    def close(self) -> None:
        if not self._closed:
            self._transport.abort()
        self.connection_lost()

    def connection_lost(self) -> None:
        self._closed = True
        self._conn.closed = True
        self._conn._apply_settings = None
        for task in self._tasks.values():
            task.cancel()
        self._pending_body.clear()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._schedule_flush()

    # -- output ------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and not self._closed:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._closed or self._paused:
            return
        data = self._h2.data_to_send()
        if self._out:
            self._out += data
            data = bytes(self._out)
            self._out.clear()
        if data:
            self._transport.write(data)
        if (self._goaway_last is not None or self._peer_goaway) and not self._busy():
            self._closed = True
            self._transport.close()

    def _update_settings(self, changes: dict[int, int]) -> None:
        if self._closed:
            return
        self._h2.update_settings({h2.settings.SettingCodes(k): v for k, v in changes.items()})
        self._schedule_flush()

    # -- input -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued a GOAWAY with the right error code (RFC 9113 §5.4.1).
            log.info("HTTP/2 protocol error from client on connection %d: %s", self._conn.id, exc)
            self._transport.write(self._h2.data_to_send())
            self._transport.close()
            self.connection_lost()
            return
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                sid = event.stream_id
                self._h2.acknowledge_received_data(event.flow_controlled_length, sid)
                request = self._requests.get(sid)
                if request is not None:
                    request[1].append(event.data)
            elif isinstance(event, h2.events.RequestReceived):
                sid = event.stream_id
                if self._goaway_last is not None and sid > self._goaway_last:
                    continue  # RFC 9113 §6.8: ignored, the client will resend it
                problem = request_problem(event.headers)
                if problem is not None:
                    log.info("malformed request on connection %d: %s", self._conn.id, problem)
                    self._h2.reset_stream(sid, h2.errors.ErrorCodes.PROTOCOL_ERROR)
                    self._h2.maybe_closed.append(sid)
                    continue
                self._requests[sid] = (event.headers, [])
                self._active.add(sid)
            elif isinstance(event, h2.events.StreamEnded):
                self._dispatch(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self._forget(event.stream_id)
            elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                self._resume_bodies()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._peer_goaway = True
        self._schedule_flush()

    def _forget(self, sid: int) -> None:
        self._h2.maybe_closed.append(sid)
        self._requests.pop(sid, None)
        self._pending_body.pop(sid, None)
        self._active.discard(sid)
        task = self._tasks.pop(sid, None)
        if task is not None:
            task.cancel()

    def _dispatch(self, sid: int) -> None:
        entry = self._requests.pop(sid, None)
        if entry is None:
            return
        raw_headers, chunks = entry
        method = path = ""
        headers: list[tuple[str, str]] = []
        for name, value in raw_headers:
            if name[:1] == b":":
                if name == b":method":
                    method = _text(value)
                elif name == b":path":
                    path = _text(value)
            else:
                headers.append((_text(name), _text(value)))
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._conn.requests += 1
        request = SimRequest(method, path, headers, body, self._conn, sid)
        task = self._loop.create_task(self._run(sid, request))
        self._tasks[sid] = task
        self._server_tasks.add(task)
        task.add_done_callback(self._server_tasks.discard)

    async def _run(self, sid: int, request: SimRequest) -> None:
        try:
            action: SimAction = await self._handler(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulator handler failed for %s %s", request.method, request.path)
            action = error_response()
        else:
            if not isinstance(action, SimResponse | ResetStream | GoAway | DropConnection):
                log.error("simulator handler returned %r for %s %s", action, request.method, request.path)
                action = error_response()
        finally:
            self._tasks.pop(sid, None)
        if not self._closed and sid in self._active:
            self._answer(sid, action)

    # -- answers -----------------------------------------------------------------

    def _answer(self, sid: int, action: SimAction) -> None:
        if isinstance(action, SimResponse):
            headers = [(b":status", str(action.status).encode())]
            headers += [(k.lower().encode(), v.encode()) for k, v in action.headers]
            body = action.body
            try:
                self._h2.send_headers(sid, headers, end_stream=not body)
            except h2.exceptions.H2Error:
                self._done(sid)
                return
            if body:
                self._pending_body[sid] = (body, 0)
                self._send_body(sid)
            else:
                self._done(sid)
        elif isinstance(action, ResetStream):
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.reset_stream(sid, action.error_code)
            self._done(sid)
        elif isinstance(action, GoAway):
            self._goaway(sid, action)
        elif isinstance(action, DropConnection):
            self.close()
            return
        else:  # pragma: no cover - _run replaced anything else with a 500
            raise TypeError(f"handler returned {action!r}")
        self._schedule_flush()

    def _done(self, sid: int) -> None:
        self._active.discard(sid)
        self._pending_body.pop(sid, None)
        self._h2.maybe_closed.append(sid)

    def _send_body(self, sid: int) -> None:
        """Send as much of the body as both windows allow (RFC 9113 §5.2, §6.9)."""
        body, offset = self._pending_body[sid]
        try:
            while offset < len(body):
                window = self._h2.local_flow_control_window(sid)
                size = min(window, self._h2.max_outbound_frame_size, len(body) - offset)
                if size <= 0:
                    self._pending_body[sid] = (body, offset)
                    return  # resumed on WINDOW_UPDATE or a SETTINGS change
                chunk = body if size == len(body) else body[offset : offset + size]
                offset += size
                self._h2.send_data(sid, chunk, end_stream=offset == len(body))
        except h2.exceptions.H2Error:
            pass  # the client reset the stream meanwhile
        self._done(sid)

    def _resume_bodies(self) -> None:
        for sid in list(self._pending_body):
            self._send_body(sid)

    def _goaway(self, sid: int, action: GoAway) -> None:
        last = action.last_stream_id if action.last_stream_id is not None else max(sid - 2, 0)
        if self._goaway_last is not None:
            last = min(last, self._goaway_last)  # RFC 9113 §6.8: never raise it again
        self._goaway_last = last
        self._conn.goaway_last_stream_id = last
        frame = GoAwayFrame(0)
        frame.last_stream_id = last
        frame.error_code = action.error_code
        frame.additional_data = action.debug_data
        self._out += self._h2.data_to_send()
        self._out += frame.serialize()
        self._active.discard(sid)
        for other in [s for s in self._active if s > last]:
            self._forget(other)
        for other in [s for s in self._requests if s > last]:
            self._forget(other)

    def _busy(self) -> bool:
        return bool(self._active) or bool(self._pending_body)
