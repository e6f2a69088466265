"""Requests per second of the HTTP/2 send path (H2Pool), and httpx for comparison.

    python bench/h2_transport.py                      # SimServer in another process, TLS
    python bench/h2_transport.py --server sink        # raw answering sink: the client's own ceiling
    python bench/h2_transport.py --url https://host:port --ca ca.pem

The requests have the APNs shape (docs/protocols/apns.md §1 and §3): POST
/3/device/<64 hex>, apns-topic, apns-push-type, a bearer token and a small
JSON body; the per-request ``:path`` block is encoded inside the measured
loop, as a provider would. The server runs in a separate process so client
and server do not share a core (this machine has two). ``--server sim`` is
the ``h2``-based SimServer, so the figure is usually bounded by the server;
``--server sink`` answers from a minimal frame loop (``_h2_sink.py``), as
the nginx sink of docs/architecture.md §7 did. H2Pool is driven through ``send`` with
a callback (no future per request), as the providers drive it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import ssl
import sys
import time
from typing import Any

import httpx

from pushgate.simulators._server import SimRequest, SimResponse, SimServer
from pushgate.simulators.tls import LocalCA
from pushgate.transport import H2Pool, HeaderBlock, LiteralField, Response

BODY = b'{"aps":{"alert":{"title":"Hello","body":"A benchmark notification"},"sound":"default"}}'
TOKENS = [os.urandom(32).hex() for _ in range(1024)]
JWT = "bearer " + "e" * 180


async def _ok(request: SimRequest) -> SimResponse:
    return SimResponse(200)


def _serve(kind: str, tls: bool, max_streams: int, queue: Any, apns_ids: int = 0) -> None:
    """Child process: run the server until terminated; report (port, CA PEM)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

    async def main() -> None:
        ca = LocalCA.create()
        context = ca.server_context(("h2",)) if tls else None
        if kind == "sink":
            from _h2_sink import serve_sink

            server = await serve_sink("127.0.0.1", 0, context, max_streams, apns_ids)
            port = server.sockets[0].getsockname()[1]
        else:
            sim = SimServer(_ok, ssl_context=context, max_concurrent_streams=max_streams)
            await sim.start("127.0.0.1", 0)
            port = sim.port
        queue.put((port, ca.ca_pem))
        await asyncio.Event().wait()

    asyncio.run(main())


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only, not the server child
    return usage.ru_utime + usage.ru_stime


def _client_context(ca_pem: bytes | None, ca_file: str | None, alpn: list[str]) -> ssl.SSLContext:
    if ca_pem is not None:
        context = ssl.create_default_context(cadata=ca_pem.decode())
    else:
        context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(alpn)
    return context


Result = tuple[float, float, int]  # requests/s (wall clock), client CPU seconds per request, errors


async def bench_pool(
    url: str, context: ssl.SSLContext | None, n: int, connections: int, concurrency: int
) -> Result:
    pool = H2Pool(url, ssl_context=context, max_connections=connections, request_timeout=120)
    # Pseudo-headers first (RFC 9113 §8.3): pseudo + :path + the constant fields.
    pseudo = HeaderBlock.encode(
        [(":method", "POST"), (":scheme", pool.scheme), (":authority", pool.authority)]
    )
    fields = HeaderBlock.encode(
        [("apns-topic", "com.example.app"), ("apns-push-type", "alert"), ("authorization", JWT),
         ("content-type", "application/json")]
    )
    paths = ["/3/device/" + token for token in TOKENS]
    loop = asyncio.get_running_loop()
    await pool.request(pseudo + HeaderBlock.encode([(":path", paths[0])]) + fields, BODY)
    finished: asyncio.Future[None] = loop.create_future()
    started = completed = errors = 0

    path = LiteralField(":path")

    def submit() -> None:
        nonlocal started
        block = b"".join((pseudo, path.encode(paths[started & 1023]), fields))
        started += 1
        pool.send(block, BODY, done)  # the callback API the providers use: no future per request

    def done(tag: object, response: Response | None, error: Exception | None) -> None:
        nonlocal completed, errors
        completed += 1
        if error is not None or response is None or response.status != 200:
            errors += 1
        if started < n:
            submit()
        elif completed == n and not finished.done():
            finished.set_result(None)

    began, cpu = time.perf_counter(), _cpu()
    for _ in range(min(concurrency, n)):
        submit()
    await finished
    elapsed, cpu = time.perf_counter() - began, _cpu() - cpu
    await pool.aclose()
    return n / elapsed, cpu / n, errors


async def bench_httpx(
    url: str, context: ssl.SSLContext | None, n: int, connections: int, concurrency: int
) -> Result:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    verify: ssl.SSLContext | bool = context if context is not None else False
    http1 = url.startswith("https")
    headers = {"apns-topic": "com.example.app", "apns-push-type": "alert", "authorization": JWT,
               "content-type": "application/json"}
    errors = 0
    client = httpx.AsyncClient(http1=http1, http2=True, verify=verify, limits=limits, timeout=120)
    async with client:
        await client.post(f"{url}/3/device/{TOKENS[0]}", content=BODY, headers=headers)
        remaining = n

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                response = await client.post(f"{url}/3/device/{TOKENS[remaining & 1023]}", content=BODY,
                                             headers=headers)
                if response.status_code != 200:
                    errors += 1

        began, cpu = time.perf_counter(), _cpu()
        await asyncio.gather(*[worker() for _ in range(min(concurrency, n))])
        elapsed, cpu = time.perf_counter() - began, _cpu() - cpu
    return n / elapsed, cpu / n, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="benchmark an existing server instead of starting one")
    parser.add_argument("--ca", help="CA file to trust for --url")
    parser.add_argument("--server", choices=["sim", "sink"], default="sim")
    parser.add_argument(
        "--apns-answers",
        action="store_true",
        help="sink answers carry a Huffman-coded apns-id like APNs (one connection only)",
    )
    parser.add_argument("--plaintext", action="store_true", help="h2c instead of TLS (own server only)")
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--httpx-n", type=int, default=5_000, help="requests for the httpx run (0 skips it)")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--max-streams", type=int, default=1000, help="own server's MAX_CONCURRENT_STREAMS")
    args = parser.parse_args()

    process = None
    ca_pem: bytes | None = None
    if args.url:
        url, where = args.url.rstrip("/"), args.url
    else:
        spawn = multiprocessing.get_context("spawn")
        queue = spawn.Queue()
        apns_ids = args.n + args.httpx_n + 10 if args.apns_answers and args.server == "sink" else 0
        server_args = (args.server, not args.plaintext, args.max_streams, queue, apns_ids)
        process = spawn.Process(target=_serve, args=server_args, daemon=True)
        process.start()
        port, ca_pem = queue.get(timeout=60)
        url = f"{'http' if args.plaintext else 'https'}://127.0.0.1:{port}"
        what = "SimServer (h2 library)" if args.server == "sim" else "raw frame sink"
        where = f"{what} in a separate process, {'h2c' if args.plaintext else 'TLS'}"
    tls = url.startswith("https")
    try:
        print(f"server: {where}; cpus: {os.cpu_count()}; python {sys.version.split()[0]}")
        context = _client_context(ca_pem, args.ca, ["h2"]) if tls else None
        runs = [("H2Pool", args.n, bench_pool)]
        if args.httpx_n:
            runs.append(("httpx h2", args.httpx_n, bench_httpx))
        for name, n, bench in runs:
            if bench is bench_httpx and tls:
                context = _client_context(ca_pem, args.ca, ["h2", "http/1.1"])
            rate, cpu, errors = asyncio.run(bench(url, context, n, args.connections, args.concurrency))
            print(f"{name:<8} n={n:<7} connections={args.connections} concurrency={args.concurrency}: "
                  f"{rate:>9,.0f} requests/s; client CPU {cpu * 1e6:7.1f} us/request "
                  f"(= {1 / cpu:>9,.0f} requests per CPU-second); errors: {errors}")
    finally:
        if process is not None:
            process.terminate()
            process.join()


if __name__ == "__main__":
    main()
