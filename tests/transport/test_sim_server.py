"""SimServer over real sockets: httpx for HTTP/2 and HTTP/1.1, a raw h2 client for the wire details."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

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
from tests.transport.raw_h2 import RawH2Client


async def echo(request: SimRequest) -> SimAction:
    return SimResponse(
        200,
        [
            ("x-path", request.path),
            ("x-method", request.method),
            ("x-version", request.connection.http_version),
        ],
        request.body,
    )


ServerFactory = Callable[..., Awaitable[SimServer]]


@pytest.fixture
async def serve() -> AsyncIterator[ServerFactory]:
    servers: list[SimServer] = []

    async def start(
        handler: Callable[[SimRequest], Awaitable[SimAction]] = echo, **kwargs: object
    ) -> SimServer:
        server = SimServer(handler, **kwargs)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def h2_client(ca: LocalCA) -> httpx.AsyncClient:
    return httpx.AsyncClient(http2=True, verify=ca.client_context(("h2",)))


def h1_client(ca: LocalCA) -> httpx.AsyncClient:
    return httpx.AsyncClient(http1=True, http2=False, verify=ca.client_context(("http/1.1",)))


async def test_h2_over_tls_many_concurrent(ca: LocalCA, serve: ServerFactory) -> None:
    server = await serve(ssl_context=ca.server_context())
    async with h2_client(ca) as client:
        responses = await asyncio.gather(
            *[client.post(f"{server.url}/p/{i}", content=b"body-%d" % i) for i in range(200)]
        )
    for i, response in enumerate(responses):
        assert response.http_version == "HTTP/2"
        assert response.headers["x-path"] == f"/p/{i}"
        assert response.headers["x-version"] == "2"
        assert response.content == b"body-%d" % i
    assert server.url.startswith("https://127.0.0.1:")
    assert len(server.connections) == 1
    assert server.connections[0].requests == 200


async def test_http11_keepalive_and_headers_as_sent(ca: LocalCA, serve: ServerFactory) -> None:
    seen: list[SimRequest] = []

    async def record(request: SimRequest) -> SimAction:
        seen.append(request)
        return await echo(request)

    server = await serve(record, ssl_context=ca.server_context())

    async def chunks() -> AsyncIterator[bytes]:
        yield b"part1-"
        yield b"part2"

    async with h1_client(ca) as client:
        first = await client.post(f"{server.url}/one?q=1", content=b"hello", headers={"X-Rep": "a"})
        second = await client.post(f"{server.url}/two", content=chunks())
        third = await client.get(f"{server.url}/three", headers=[("x-rep", "a"), ("x-rep", "b")])
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert first.http_version == "HTTP/1.1"
    assert first.headers["x-version"] == "1.1"
    assert second.content == b"part1-part2"
    assert len(server.connections) == 1  # keep-alive
    assert server.connections[0].requests == 3
    assert seen[0].path == "/one?q=1"
    assert seen[0].header("content-length") == "5"
    assert seen[0].header("x-rep") == "a"
    assert seen[1].header("transfer-encoding") == "chunked"
    assert seen[1].header("content-length") is None
    assert seen[2].header_all("x-rep") == ["a", "b"]
    assert all(name == name.lower() for name, _ in seen[0].headers)


async def test_h2c_prior_knowledge_and_plain_http11(serve: ServerFactory) -> None:
    server = await serve()
    assert server.url.startswith("http://")
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.post(f"{server.url}/h2c", content=b"x")
    assert response.http_version == "HTTP/2"
    assert response.headers["x-version"] == "2"
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/h1")
    assert response.http_version == "HTTP/1.1"
    assert [c.http_version for c in server.connections] == ["2", "1.1"]


async def test_tls_without_alpn_speaking_h2(
    ca: LocalCA, serve: ServerFactory, raw_clients: list[RawH2Client]
) -> None:
    server = await serve(ssl_context=ca.server_context(("h2",)), http1=False)
    context = ca.client_context(alpn=())  # offers no ALPN, as aioapns does
    client = await RawH2Client.open("127.0.0.1", server.port, context)
    raw_clients.append(client)
    ssl_object = client.writer.get_extra_info("ssl_object")
    assert ssl_object.selected_alpn_protocol() is None
    sid = client.request("/3/device/abc", b"{}")
    await client.run_until(client.finished(sid))
    assert client.streams[sid].status == 200
    assert server.connections[0].http_version == "2"


async def test_http1_disabled_answers_505(ca: LocalCA, serve: ServerFactory) -> None:
    server = await serve(ssl_context=ca.server_context(), http1=False)
    async with h1_client(ca) as client:
        response = await client.get(f"{server.url}/x")
    assert response.status_code == 505
    async with httpx.AsyncClient() as client:
        plain = await serve(http1=False)
        response = await client.get(f"{plain.url}/x")
    assert response.status_code == 505


async def test_http2_disabled_refuses_h2(serve: ServerFactory, raw_clients: list[RawH2Client]) -> None:
    server = await serve(http2=False)
    client = await RawH2Client.open("127.0.0.1", server.port)
    raw_clients.append(client)
    client.request("/x")
    await client.run_until(lambda: False)
    assert client.eof
    assert server.connections == []


async def test_initial_and_updated_settings_reach_client(
    ca: LocalCA, serve: ServerFactory, raw_clients: list[RawH2Client]
) -> None:
    def start_at_one(conn: SimConnection) -> None:
        conn.update_settings(max_concurrent_streams=1)

    async def raise_limit(request: SimRequest) -> SimAction:
        request.connection.update_settings(max_concurrent_streams=50)
        return SimResponse(200)

    server = await serve(raise_limit, ssl_context=ca.server_context(), on_connect=start_at_one)
    client = await RawH2Client.open("127.0.0.1", server.port, ca.client_context())
    raw_clients.append(client)
    await client.run_until(lambda: bool(client.settings_seen))
    assert client.h2.remote_settings.max_concurrent_streams == 1
    sid = client.request("/first")
    await client.run_until(lambda: client.h2.remote_settings.max_concurrent_streams == 50)
    await client.run_until(client.finished(sid))
    assert client.streams[sid].status == 200
    assert server.connections[0].max_concurrent_streams == 50


@pytest.mark.parametrize("http2", [True, False])
async def test_large_bodies_both_ways(ca: LocalCA, serve: ServerFactory, http2: bool) -> None:
    server = await serve(ssl_context=ca.server_context())
    payload = bytes(range(256)) * 8192  # 2 MiB
    async with (h2_client(ca) if http2 else h1_client(ca)) as client:
        responses = await asyncio.gather(
            *[client.post(f"{server.url}/big/{i}", content=payload) for i in range(3)]
        )
    for response in responses:
        assert response.status_code == 200
        assert response.content == payload


async def test_reset_stream(ca: LocalCA, serve: ServerFactory, raw_clients: list[RawH2Client]) -> None:
    async def handler(request: SimRequest) -> SimAction:
        if request.path == "/reset":
            return ResetStream(0x8)  # CANCEL
        return SimResponse(204)

    server = await serve(handler, ssl_context=ca.server_context())
    client = await RawH2Client.open("127.0.0.1", server.port, ca.client_context())
    raw_clients.append(client)
    bad, good = client.request("/reset"), client.request("/ok")
    await client.run_until(client.finished(bad, good))
    assert client.streams[bad].reset_code == 0x8
    assert client.streams[good].status == 204
    async with h1_client(ca) as h1:
        with pytest.raises(httpx.RemoteProtocolError):
            await h1.get(f"{server.url}/reset")


async def test_goaway_answers_streams_up_to_last_and_closes(
    ca: LocalCA, serve: ServerFactory, raw_clients: list[RawH2Client]
) -> None:
    release = asyncio.Event()
    handled: list[int] = []

    async def handler(request: SimRequest) -> SimAction:
        if request.path == "/slow":
            await release.wait()
        if request.path == "/goaway":
            release.set()
            return GoAway(b'{"reason":"Shutdown"}')
        handled.append(request.stream_id)
        return SimResponse(200)

    server = await serve(handler, ssl_context=ca.server_context())
    client = await RawH2Client.open("127.0.0.1", server.port, ca.client_context())
    raw_clients.append(client)
    client.raw = True
    slow = client.request("/slow")
    goaway = client.request("/goaway")
    after = client.request("/after")
    await client.run_until(lambda: False)  # until the server closes
    assert client.goaway is not None
    assert client.goaway.last_stream_id == goaway - 2 == slow
    assert client.goaway.additional_data == b'{"reason":"Shutdown"}'
    assert client.streams[slow].status == 200
    assert not client.streams[goaway].headers
    assert not client.streams[after].headers
    assert handled == [slow]
    assert server.connections[0].goaway_last_stream_id == slow


async def test_drop_connection(ca: LocalCA, serve: ServerFactory, raw_clients: list[RawH2Client]) -> None:
    async def handler(request: SimRequest) -> SimAction:
        return DropConnection()

    server = await serve(handler, ssl_context=ca.server_context())
    client = await RawH2Client.open("127.0.0.1", server.port, ca.client_context())
    raw_clients.append(client)
    sid = client.request("/drop")
    await client.run_until(lambda: False)
    assert client.eof
    assert not client.streams[sid].headers
    assert server.connections[0].closed


async def test_handler_exception_is_500_and_connection_survives(ca: LocalCA, serve: ServerFactory) -> None:
    async def handler(request: SimRequest) -> SimAction:
        if request.path == "/boom":
            raise ValueError("handler bug")
        return SimResponse(200)

    server = await serve(handler, ssl_context=ca.server_context())
    for client in (h2_client(ca), h1_client(ca)):
        async with client:
            assert (await client.get(f"{server.url}/boom")).status_code == 500
            assert (await client.get(f"{server.url}/fine")).status_code == 200
    assert [c.requests for c in server.connections] == [2, 2]


async def test_answers_complete_out_of_order(ca: LocalCA, serve: ServerFactory) -> None:
    fast_done = asyncio.Event()
    order: list[str] = []

    async def handler(request: SimRequest) -> SimAction:
        if request.path == "/slow":
            await fast_done.wait()
        order.append(request.path)
        if request.path == "/fast":
            fast_done.set()
        return SimResponse(200)

    server = await serve(handler, ssl_context=ca.server_context())
    async with h2_client(ca) as client:
        slow = asyncio.ensure_future(client.get(f"{server.url}/slow"))
        fast = await client.get(f"{server.url}/fast")
        assert fast.status_code == 200
        assert (await slow).status_code == 200
    assert order == ["/fast", "/slow"]


async def test_peer_certificate_visible(ca: LocalCA, serve: ServerFactory, tmp_path: object) -> None:
    seen: list[SimConnection] = []

    async def handler(request: SimRequest) -> SimAction:
        seen.append(request.connection)
        return SimResponse(200)

    server = await serve(handler, ssl_context=ca.server_context(require_client_cert=True))
    cert_pem, key_pem = ca.issue_client_cert("push client", uid="com.example.app")
    context = ca.client_context()
    cert_file = ca._tempfile(cert_pem, ".pem")
    key_file = ca._tempfile(key_pem, ".key")
    context.load_cert_chain(cert_file, key_file)
    async with httpx.AsyncClient(http2=True, verify=context) as client:
        assert (await client.get(f"{server.url}/x")).status_code == 200
    peer = seen[0].peer_cert
    assert peer is not None
    subject = {key: value for rdn in peer["subject"] for key, value in rdn}
    assert subject["commonName"] == "push client"
    assert subject["userId"] == "com.example.app"

    plain = await serve(handler, ssl_context=ca.server_context())
    async with h2_client(ca) as client:
        assert (await client.get(f"{plain.url}/x")).status_code == 200
    assert seen[1].peer_cert is None


async def test_stop_cancels_waiting_handlers(ca: LocalCA) -> None:
    never = asyncio.Event()
    started = asyncio.Event()

    async def handler(request: SimRequest) -> SimAction:
        started.set()
        await never.wait()
        return SimResponse(200)

    server = SimServer(handler, ssl_context=ca.server_context())
    await server.start()
    async with h2_client(ca) as client:
        pending = asyncio.ensure_future(client.get(f"{server.url}/wait"))
        await started.wait()
        await server.stop()
        with pytest.raises(httpx.TransportError):
            await pending
    assert all(c.closed for c in server.connections)


def test_ssl_module_has_alpn() -> None:
    assert ssl.HAS_ALPN


async def test_handler_returning_garbage_is_500(ca: LocalCA, serve: ServerFactory) -> None:
    async def handler(request: SimRequest) -> SimAction:
        return None  # type: ignore[return-value]

    server = await serve(handler, ssl_context=ca.server_context())
    for client in (h2_client(ca), h1_client(ca)):
        async with client:
            assert (await client.get(f"{server.url}/x")).status_code == 500
