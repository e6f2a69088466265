"""The HTTP/1.1 half of the simulator server, on ``h11``.

Web Push services and WNS are reached over HTTP/1.1 by many real senders
(pywebpush uses ``requests``), so the simulators must speak it faithfully:
keep-alive with several requests per connection, and the request headers
exactly as sent (``transfer-encoding``, ``content-length``, repeats), since
the checks of docs/simulators.md look at them.

A server that refuses HTTP/1.1 (APNs, docs/protocols/apns.md §8) answers
``505 HTTP Version Not Supported`` and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import h11

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


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class H1Session:
    """One HTTP/1.1 server connection; requests are answered one at a time."""

    def __init__(
        self,
        transport: asyncio.Transport,
        conn: SimConnection,
        handler: Handler,
        tasks: set[asyncio.Task[None]],
        *,
        reject: bool = False,
    ) -> None:
        self._transport = transport
        self._conn = conn
        self._handler = handler
        self._server_tasks = tasks
        self._reject = reject
        self._loop = asyncio.get_running_loop()
        self._h11 = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        pass

    def close(self) -> None:
        if not self._closed:
            self._transport.abort()
        self.connection_lost()

    def connection_lost(self) -> None:
        self._closed = True
        self._conn.closed = True
        if self._task is not None:
            self._task.cancel()

    def pause_writing(self) -> None:
        pass  # answers are written whole; the transport buffers them

    def resume_writing(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        try:
            self._h11.receive_data(data)
        except RuntimeError:
            return  # data after the connection was marked closed
        self._process()

    def _process(self) -> None:
        while not self._closed and self._task is None:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._bad_request(exc)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                if self._reject:
                    self._write_response(SimResponse(505, [("connection", "close")], b""))
                    self._shutdown()
                    return
                self._request = event
                self._body = []
                if self._h11.they_are_waiting_for_100_continue:
                    interim = h11.InformationalResponse(status_code=100, headers=[])
                    self._transport.write(self._h11.send(interim) or b"")
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                self._shutdown()
                return

    def _bad_request(self, exc: h11.RemoteProtocolError) -> None:
        log.info("HTTP/1.1 protocol error on connection %d: %s", self._conn.id, exc)
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            status = exc.error_status_hint
            with contextlib.suppress(h11.LocalProtocolError):
                self._write_response(SimResponse(status, [("connection", "close")], b""))
        self._shutdown()

    def _dispatch(self) -> None:
        event = self._request
        assert event is not None
        headers = [(_text(name), _text(value)) for name, value in event.headers]
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        self._conn.requests += 1
        request = SimRequest(_text(event.method), _text(event.target), headers, body, self._conn)
        self._task = self._loop.create_task(self._run(request))
        self._server_tasks.add(self._task)
        self._task.add_done_callback(self._server_tasks.discard)

    async def _run(self, request: SimRequest) -> None:
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
            self._task = None
        if self._closed:
            return
        if isinstance(action, SimResponse):
            self._write_response(action)
            if self._h11.our_state is h11.MUST_CLOSE or self._h11.their_state is h11.MUST_CLOSE:
                self._shutdown()
                return
            try:
                self._h11.start_next_cycle()
            except h11.LocalProtocolError:
                self._shutdown()
                return
            self._process()
        elif isinstance(action, DropConnection):
            self.close()
        elif isinstance(action, ResetStream | GoAway):
            self._shutdown()  # HTTP/1.1 has no stream to reset: close, answering nothing
        else:  # pragma: no cover - _run replaced anything else with a 500
            raise TypeError(f"handler returned {action!r}")

    def _write_response(self, response: SimResponse) -> None:
        headers = [(k.lower().encode(), v.encode()) for k, v in response.headers]
        if not any(k in (b"content-length", b"transfer-encoding") for k, _ in headers):
            headers.append((b"content-length", str(len(response.body)).encode()))
        parts: list[bytes] = []
        head = self._h11.send(h11.Response(status_code=response.status, headers=headers))
        if head:
            parts.append(head)
        if response.body:
            parts.extend(self._h11.send_with_data_passthrough(h11.Data(data=response.body)) or ())
        tail = self._h11.send(h11.EndOfMessage())
        if tail:
            parts.append(tail)
        self._transport.write(b"".join(parts))

    def _shutdown(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.closed = True
            self._transport.close()
