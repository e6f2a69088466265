"""H2Pool against SimServer over real sockets (TLS from a throwaway CA)."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import h2.config
import h2.connection
import h2.events
import pytest

from pushgate.errors import TransportError
from pushgate.simulators._server import (
    DropConnection,
    GoAway,
    ResetStream,
    SimAction,
    SimConnection,
    SimRequest,
    SimResponse,
    SimServer,
)
from pushgate.simulators.tls import LocalCA
from pushgate.transport import (
    ConnectFailed,
    ConnectionLost,
    H2Pool,
    HeaderBlock,
    HTTP2NotNegotiated,
    ProtocolViolation,
    RequestTimeout,
    Response,
    StreamNotProcessed,
    StreamReset,
)

Handler = Callable[[SimRequest], Awaitable[SimAction]]


async def echo(request: SimRequest) -> SimAction:
    return SimResponse(200, [("x-path", request.path)], request.body)


class Harness:
    def __init__(self, ca: LocalCA) -> None:
        self.ca = ca
        self.servers: list[SimServer] = []
        self.pools: list[H2Pool] = []

    async def server(self, handler: Handler = echo, *, tls: bool = True, **kwargs: object) -> SimServer:
        context = self.ca.server_context() if tls else None
        server = SimServer(handler, ssl_context=context, **kwargs)  # type: ignore[arg-type]
        await server.start()
        self.servers.append(server)
        return server

    def pool(self, server: SimServer, **kwargs: object) -> H2Pool:
        context = self.ca.client_context() if server.url.startswith("https") else None
        pool = H2Pool(server.url, ssl_context=context, **kwargs)  # type: ignore[arg-type]
        self.pools.append(pool)
        return pool


@pytest.fixture
async def harness(ca: LocalCA) -> AsyncIterator[Harness]:
    h = Harness(ca)
    yield h
    for pool in h.pools:
        await pool.aclose()
    for server in h.servers:
        await server.stop()


def block(pool: H2Pool, path: str, *extra: tuple[str, str]) -> HeaderBlock:
    constant = HeaderBlock.encode(
        [(":method", "POST"), (":scheme", pool.scheme), (":authority", pool.authority)]
    )
    return constant + HeaderBlock.encode([(":path", path), *extra])


class Gate:
    """Holds handlers on each connection until the client has filled its stream
    limit (or every expected request has arrived), then releases them together,
    so concurrency is visible to the server without any sleeping."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.arrived = 0
        self.in_flight: Counter[int] = Counter()
        self.max_in_flight: Counter[int] = Counter()
        self.violations: list[tuple[int, int, int]] = []
        self.events: dict[int, asyncio.Event] = {}

    async def hold(self, conn: SimConnection, *, check: bool = True) -> None:
        self.arrived += 1
        self.in_flight[conn.id] += 1
        current = self.in_flight[conn.id]
        self.max_in_flight[conn.id] = max(self.max_in_flight[conn.id], current)
        if check and current > conn.max_concurrent_streams:
            self.violations.append((conn.id, current, conn.max_concurrent_streams))
        try:
            if self.arrived >= self.total:
                for event in self.events.values():
                    event.set()
                self.events.clear()
            elif current >= conn.max_concurrent_streams:
                self.events.pop(conn.id, asyncio.Event()).set()
            else:
                await self.events.setdefault(conn.id, asyncio.Event()).wait()
        finally:
            self.in_flight[conn.id] -= 1


# -- requests -----------------------------------------------------------------------


async def test_single_request_and_url_parts(harness: Harness) -> None:
    server = await harness.server()
    pool = harness.pool(server)
    assert pool.scheme == "https"
    assert pool.authority == f"127.0.0.1:{server.port}"
    assert H2Pool("https://api.push.apple.com:443").authority == "api.push.apple.com"
    assert H2Pool("http://[::1]:8080").authority == "[::1]:8080"
    response = await pool.request(block(pool, "/hello"), b"payload")
    assert isinstance(response, Response)
    assert (response.status, response.header("x-path"), response.body) == (200, "/hello", b"payload")


async def test_h2c_prior_knowledge(harness: Harness) -> None:
    server = await harness.server(tls=False)
    pool = harness.pool(server)
    assert pool.scheme == "http"
    response = await pool.request(block(pool, "/plain"))
    assert response.status == 200
    assert server.connections[0].http_version == "2"


async def test_5000_concurrent_requests(harness: Harness) -> None:
    server = await harness.server()
    pool = harness.pool(server)
    futures = [pool.request(block(pool, f"/n/{i}"), b"%d" % i) for i in range(5000)]
    responses = await asyncio.gather(*futures)
    for i, response in enumerate(responses):
        assert response.status == 200
        assert response.header("x-path") == f"/n/{i}"
        assert response.body == b"%d" % i
    assert len(server.connections) == 1
    assert server.connections[0].requests == 5000


async def test_stream_limit_starts_at_one_then_rises(harness: Harness) -> None:
    total = 301
    gate = Gate(total)

    def start_at_one(conn: SimConnection) -> None:
        conn.update_settings(max_concurrent_streams=1)

    async def handler(request: SimRequest) -> SimAction:
        await gate.hold(request.connection)
        if request.path == "/first":
            request.connection.update_settings(max_concurrent_streams=20)
        return SimResponse(200, [("x-path", request.path)])

    server = await harness.server(handler, on_connect=start_at_one)
    pool = harness.pool(server)
    first = await pool.request(block(pool, "/first"))
    assert first.status == 200
    responses = await asyncio.gather(*[pool.request(block(pool, f"/r/{i}")) for i in range(total - 1)])
    assert [r.header("x-path") for r in responses] == [f"/r/{i}" for i in range(total - 1)]
    assert gate.violations == []
    assert gate.max_in_flight[1] == 20  # it did use the raised limit
    assert pool.connections[0].max_concurrent_streams == 20


async def test_stream_limit_lowered_mid_run(harness: Harness) -> None:
    total = 600
    gate = Gate(total)
    after_lowering: list[int] = []
    lowered = False

    async def handler(request: SimRequest) -> SimAction:
        nonlocal lowered
        conn = request.connection
        if gate.arrived == 150:
            conn.update_settings(max_concurrent_streams=5)
            lowered = True
        if lowered:
            after_lowering.append(gate.in_flight[conn.id] + 1)
        await gate.hold(conn, check=False)
        return SimResponse(200, [("x-path", request.path)])

    server = await harness.server(handler, max_concurrent_streams=50)
    pool = harness.pool(server)
    responses = await asyncio.gather(*[pool.request(block(pool, f"/l/{i}")) for i in range(total)])
    assert all(r.status == 200 for r in responses)
    assert gate.max_in_flight[1] == 50
    settled = after_lowering.index(next(n for n in after_lowering if n <= 5))
    assert max(after_lowering[settled:]) <= 5  # once within the new limit, it stays there
    assert pool.connections[0].max_concurrent_streams == 5


async def test_large_bodies_with_small_server_windows(harness: Harness) -> None:
    def small_windows(conn: SimConnection) -> None:
        conn.update_settings(initial_window_size=16384, max_frame_size=16384)

    server = await harness.server(on_connect=small_windows)
    pool = harness.pool(server, max_response_body=1 << 21)  # the bodies come back echoed
    # One small request first, so the smaller window is settled (SETTINGS
    # ACKed) before bodies flow: h2 on the server side treats a window driven
    # negative by a late SETTINGS change as fatal, though RFC 9113 §6.9.2
    # allows it.
    assert (await pool.request(block(pool, "/warm"))).status == 200
    payloads = [bytes([i]) * (1_500_000 + i) for i in range(4)]
    responses = await asyncio.gather(
        *[pool.request(block(pool, f"/big/{i}"), payload) for i, payload in enumerate(payloads)]
    )
    for payload, response in zip(payloads, responses, strict=True):
        assert response.body == payload
    # A header block bigger than MAX_FRAME_SIZE goes out as HEADERS + CONTINUATION.
    huge = await pool.request(block(pool, "/headers", ("x-big", "h" * 40_000)))
    assert huge.status == 200


async def test_goaway_mid_run_resends_unprocessed(harness: Harness) -> None:
    processed: Counter[str] = Counter()
    count = 0

    async def handler(request: SimRequest) -> SimAction:
        nonlocal count
        count += 1
        if count == 400:
            return GoAway(b'{"reason":"Shutdown"}', last_stream_id=request.stream_id - 2)
        processed[request.path] += 1
        return SimResponse(200, [("x-path", request.path)])

    server = await harness.server(handler, max_concurrent_streams=100)
    pool = harness.pool(server)
    paths = [f"/g/{i}" for i in range(2000)]
    responses = await asyncio.gather(*[pool.request(block(pool, p)) for p in paths])
    assert [r.header("x-path") for r in responses] == paths
    assert set(processed) == set(paths)
    assert all(n == 1 for n in processed.values())  # nothing lost, nothing duplicated
    assert len(server.connections) >= 2
    assert server.connections[0].goaway_last_stream_id is not None
    assert pool.connections_opened >= 2


async def test_refused_stream_is_resent(harness: Harness) -> None:
    attempts: Counter[str] = Counter()

    async def handler(request: SimRequest) -> SimAction:
        attempts[request.path] += 1
        if request.path == "/always":
            return ResetStream(0x7)
        if request.path.startswith("/once") and attempts[request.path] == 1:
            return ResetStream(0x7)  # REFUSED_STREAM
        if request.path == "/cancel":
            return ResetStream(0x8)
        return SimResponse(200, [("x-path", request.path)])

    server = await harness.server(handler)
    pool = harness.pool(server, max_resends=2)
    responses = await asyncio.gather(*[pool.request(block(pool, f"/once/{i}")) for i in range(20)])
    assert all(r.status == 200 for r in responses)
    assert all(attempts[f"/once/{i}"] == 2 for i in range(20))
    with pytest.raises(StreamNotProcessed):
        await pool.request(block(pool, "/always"))
    assert attempts["/always"] == 3
    with pytest.raises(StreamReset) as reset:
        await pool.request(block(pool, "/cancel"))
    assert reset.value.error_code == 0x8


async def test_drop_connection_fails_in_flight_then_recovers(harness: Harness) -> None:
    waiting = 0
    all_waiting = asyncio.Event()
    never = asyncio.Event()

    async def handler(request: SimRequest) -> SimAction:
        nonlocal waiting
        if request.path == "/drop":
            await all_waiting.wait()
            return DropConnection()
        if request.path.startswith("/wait"):
            waiting += 1
            if waiting == 10:
                all_waiting.set()
            await never.wait()
        return SimResponse(200)

    server = await harness.server(handler)
    pool = harness.pool(server)
    await pool.request(block(pool, "/warm"))
    in_flight = [pool.request(block(pool, f"/wait/{i}")) for i in range(10)]
    drop = pool.request(block(pool, "/drop"))
    results = await asyncio.gather(*in_flight, drop, return_exceptions=True)
    assert all(isinstance(r, ConnectionLost) for r in results)
    assert all(isinstance(r, TransportError) for r in results)
    later = await pool.request(block(pool, "/later"))
    assert later.status == 200
    assert len(server.connections) == 2


async def test_request_timeout(harness: Harness) -> None:
    never = asyncio.Event()

    async def handler(request: SimRequest) -> SimAction:
        if request.path == "/hang":
            await never.wait()
        return SimResponse(200)

    server = await harness.server(handler, max_concurrent_streams=1)
    pool = harness.pool(server, request_timeout=0.2)
    hung = pool.request(block(pool, "/hang"))
    queued = pool.request(block(pool, "/hang"))  # waits behind it for the single stream
    with pytest.raises(RequestTimeout):
        await hung
    with pytest.raises(RequestTimeout):
        await queued
    # The timed-out stream was reset, so its slot is free again.
    assert (await pool.request(block(pool, "/ok"))).status == 200


async def test_http11_only_server_is_not_http2(harness: Harness, ca: LocalCA) -> None:
    server = SimServer(echo, ssl_context=ca.server_context(("http/1.1",)))
    await server.start()
    harness.servers.append(server)
    pool = H2Pool(server.url, ssl_context=ca.client_context(("h2", "http/1.1")))
    harness.pools.append(pool)
    with pytest.raises(HTTP2NotNegotiated):
        await pool.request(block(pool, "/x"))


async def test_connect_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pool = H2Pool(f"http://127.0.0.1:{port}", connect_timeout=5)
    try:
        results = await asyncio.gather(
            *[pool.request(b"\x82") for _ in range(3)], return_exceptions=True
        )
        assert all(isinstance(r, ConnectFailed) for r in results)
    finally:
        await pool.aclose()


async def test_tls_verification_failure_is_connect_failed(harness: Harness) -> None:
    server = await harness.server()
    other = LocalCA.create()
    pool = H2Pool(server.url, ssl_context=other.client_context())
    harness.pools.append(pool)
    with pytest.raises(ConnectFailed):
        await pool.request(block(pool, "/x"))
    other.cleanup()


async def test_several_connections_when_the_stream_limit_is_small(harness: Harness) -> None:
    total = 200
    gate = Gate(total)

    async def handler(request: SimRequest) -> SimAction:
        await gate.hold(request.connection)
        return SimResponse(200, [("x-path", request.path)])

    server = await harness.server(handler, max_concurrent_streams=2)
    pool = harness.pool(server, max_connections=4)
    responses = await asyncio.gather(*[pool.request(block(pool, f"/m/{i}")) for i in range(total)])
    assert [r.header("x-path") for r in responses] == [f"/m/{i}" for i in range(total)]
    assert len(server.connections) == 4
    assert pool.connections_opened == 4
    assert gate.violations == []
    assert all(n <= 2 for n in gate.max_in_flight.values())


async def test_aclose_fails_pending_and_rejects_new(harness: Harness) -> None:
    never = asyncio.Event()
    both_in_flight = asyncio.Event()

    async def handler(request: SimRequest) -> SimAction:
        if request.connection.requests == 2:
            both_in_flight.set()
        await never.wait()
        return SimResponse(200)

    server = await harness.server(handler, max_concurrent_streams=2)
    pool = harness.pool(server)
    pending = [pool.request(block(pool, f"/p/{i}")) for i in range(5)]
    await both_in_flight.wait()  # two on streams, three queued
    await pool.aclose()
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(r, ConnectionLost) for r in results)
    with pytest.raises(ConnectionLost):
        await pool.request(block(pool, "/after"))


# -- wire details, against a scripted h2 server ----------------------------------------


class ScriptedServer(asyncio.Protocol):
    """An ``h2`` server whose answers are scripted per path, for frames SimServer never sends."""

    pings_acked = 0

    def __init__(self) -> None:
        config = h2.config.H2Configuration(client_side=False, validate_outbound_headers=False)
        self.h2 = h2.connection.H2Connection(config)
        self.transport: asyncio.Transport | None = None
        self.paths: dict[int, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's lack the base class
        self.h2.initiate_connection()
        self.transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.paths[event.stream_id] = dict(event.headers)[b":path"].decode()
            elif isinstance(event, h2.events.StreamEnded):
                self.answer(event.stream_id, self.paths[event.stream_id])
            elif isinstance(event, h2.events.PingAckReceived):
                ScriptedServer.pings_acked += 1
        assert self.transport is not None
        self.transport.write(self.h2.data_to_send())

    def answer(self, sid: int, path: str) -> None:
        conn = self.h2
        if path == "/ping":
            conn.ping(b"pushgate")
            conn.send_headers(sid, [(":status", "204")], end_stream=True)
        elif path == "/interim":
            conn.send_headers(sid, [(":status", "103"), ("link", "</x>")])
            conn.send_headers(sid, [(":status", "200"), ("x-first", "1")])
            conn.send_data(sid, b"abc", pad_length=20)
            conn.send_data(sid, b"def")
            conn.send_headers(sid, [("x-trailer", "t")], end_stream=True)
        elif path == "/big-headers":
            conn.send_headers(sid, [(":status", "200"), ("x-big", "b" * 50_000)], end_stream=True)
        elif path == "/no-status":
            conn.send_headers(sid, [("x-oops", "1")], end_stream=True)
        else:
            conn.send_headers(sid, [(":status", "200")], end_stream=True)


async def test_server_ping_interim_padding_trailers_continuation() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(ScriptedServer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = H2Pool(f"http://127.0.0.1:{port}")
    try:
        pinged = await pool.request(block(pool, "/ping"))
        assert pinged.status == 204
        interim = await pool.request(block(pool, "/interim"))
        assert interim.status == 200
        assert interim.body == b"abcdef"
        assert interim.headers == [("x-first", "1"), ("x-trailer", "t")]
        big = await pool.request(block(pool, "/big-headers"))
        assert big.header("x-big") == "b" * 50_000
        with pytest.raises(ProtocolViolation):
            await pool.request(block(pool, "/no-status"))
        assert (await pool.request(block(pool, "/after"))).status == 200  # stream error only
        assert ScriptedServer.pings_acked == 1
        assert pool.connections_opened == 1
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()


# -- more pool edge cases -----------------------------------------------------------


async def test_goaway_every_time_ends_in_stream_not_processed(harness: Harness) -> None:
    async def handler(request: SimRequest) -> SimAction:
        return GoAway(b'{"reason":"Shutdown"}')

    server = await harness.server(handler)
    pool = harness.pool(server, max_resends=2)
    with pytest.raises(StreamNotProcessed):
        await pool.request(block(pool, "/x"))
    assert len(server.connections) == 3  # the first try and two resends, each on a new connection


async def test_server_without_http2_is_connect_failed(harness: Harness) -> None:
    server = await harness.server(tls=False, http2=False)
    pool = harness.pool(server)
    futures = [pool.request(block(pool, "/x")) for _ in range(3)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(r, ConnectFailed) for r in results), results


async def test_cancelled_futures_do_not_disturb_others(harness: Harness) -> None:
    server = await harness.server(max_concurrent_streams=5)
    pool = harness.pool(server)
    futures = [pool.request(block(pool, f"/c/{i}")) for i in range(50)]
    for future in futures[::3]:
        future.cancel()
    kept = [f for i, f in enumerate(futures) if i % 3]
    responses = await asyncio.gather(*kept)
    assert [r.header("x-path") for r in responses] == [f"/c/{i}" for i in range(50) if i % 3]
    assert all(f.cancelled() for f in futures[::3])


async def test_malformed_request_is_reset_by_the_server(harness: Harness) -> None:
    server = await harness.server()
    pool = harness.pool(server)
    # Blocks concatenate in any order; a pseudo-header after a regular one is
    # malformed (RFC 9113 §8.3) and the server resets just that stream.
    early = HeaderBlock.encode([(":method", "POST"), (":scheme", "https"), ("x-first", "1")])
    bad = early + HeaderBlock.encode([(":path", "/late"), (":authority", pool.authority)])
    with pytest.raises(StreamReset) as reset:
        await pool.request(bad)
    assert reset.value.error_code == 0x1  # PROTOCOL_ERROR
    assert (await pool.request(block(pool, "/fine"))).status == 200


# -- the callback API ---------------------------------------------------------------


async def test_send_calls_back_once_per_request_without_futures(harness: Harness) -> None:
    server = await harness.server(max_concurrent_streams=50)
    pool = harness.pool(server)
    done = asyncio.get_running_loop().create_future()
    answers: dict[int, tuple[Response | None, TransportError | None]] = {}

    def callback(tag: int, response: Response | None, error: TransportError | None) -> None:
        assert tag not in answers  # exactly once
        answers[tag] = (response, error)
        if len(answers) == 500:
            done.set_result(None)

    for i in range(500):
        pool.send(block(pool, f"/s/{i}"), b"%d" % i, callback, i)
    await done
    for i in range(500):
        response, error = answers[i]
        assert error is None
        assert response is not None
        assert (response.header("x-path"), response.body) == (f"/s/{i}", b"%d" % i)


async def test_send_reports_timeouts_and_closed_pools_through_the_callback(harness: Harness) -> None:
    never = asyncio.Event()

    async def handler(request: SimRequest) -> SimAction:
        await never.wait()
        return SimResponse(200)

    server = await harness.server(handler)
    pool = harness.pool(server, request_timeout=0.1)
    answers: list[tuple[str, Response | None, TransportError | None]] = []
    finished = asyncio.Event()

    def callback(tag: str, response: Response | None, error: TransportError | None) -> None:
        answers.append((tag, response, error))
        finished.set()

    pool.send(block(pool, "/hang"), b"", callback, "hung")
    await finished.wait()
    assert [(tag, type(error)) for tag, _, error in answers] == [("hung", RequestTimeout)]
    await pool.aclose()
    pool.send(block(pool, "/late"), b"", callback, "late")  # answered at once
    assert [(tag, type(error)) for tag, _, error in answers[1:]] == [("late", ConnectionLost)]


async def test_a_raising_callback_does_not_break_the_connection(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    server = await harness.server()
    pool = harness.pool(server)
    seen: list[int] = []
    finished = asyncio.Event()

    def callback(tag: int, response: Response | None, error: TransportError | None) -> None:
        seen.append(tag)
        if len(seen) == 20:
            finished.set()
        if tag % 2:
            raise RuntimeError("a bug in the caller")

    for i in range(20):
        pool.send(block(pool, f"/r/{i}"), b"", callback, i)
    await finished.wait()
    assert sorted(seen) == list(range(20))
    assert (await pool.request(block(pool, "/after"))).status == 200
    assert pool.connections_opened == 1
    assert "response callback failed" in caplog.text


def test_pool_runs_on_uvloop_when_installed() -> None:
    """uvloop is optional (never required); its transports lack asyncio's base
    classes, so the connection must not insist on them."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(ScriptedServer, "127.0.0.1", 0)
        pool = H2Pool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        try:
            responses = await asyncio.gather(*(pool.request(block(pool, f"/u/{i}")) for i in range(50)))
            return [r.status for r in responses]
        finally:
            await pool.aclose()
            server.close()

    assert uvloop.run(main()) == [200] * 50
