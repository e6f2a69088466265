"""Peer run: pywebpush 2.5.0 against the benchmark's Web Push sink (runs in the peer's own venv).

Its best configurations, as its documentation offers them: ``webpush()``
with a shared ``requests.Session`` (a connection pool as large as the
thread count) called from a thread pool, or ``webpush_async()`` with a
shared ``aiohttp.ClientSession`` and many coroutines in flight. The VAPID
key is loaded once (a ``Vapid`` object, which ``webpush`` accepts); each
call still signs its VAPID JWT, as the library does. TLS trust: the
session's ``verify`` with ``trust_env`` off, since a ``REQUESTS_CA_BUNDLE``
in the environment would win over it (requests), or the connector's SSL context (aiohttp)
names the sink's CA; nothing in pywebpush is patched.

Reads a JSON config on stdin, prints one JSON result line.
"""

from __future__ import annotations

import asyncio
import json
import resource
import ssl
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from py_vapid import Vapid
from pywebpush import WebPushException, webpush, webpush_async

DATA = json.dumps({"title": "Benchmark", "body": "Hello from pushgate", "data": {"n": 1}})
SUBJECT = "mailto:bench@pushgate.invalid"


def thread_sender(config: dict[str, Any], vapid: Vapid) -> Callable[[list[dict[str, Any]]], dict[str, int]]:
    threads = int(config["concurrency"])
    session = requests.Session()
    session.mount("https://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=threads))
    session.verify = config["ca_file"]
    # REQUESTS_CA_BUNDLE in the environment would override verify= (requests' trust_env).
    session.trust_env = False
    pool = ThreadPoolExecutor(threads)

    def one(sub: dict[str, Any]) -> str:
        try:
            response = webpush(sub, DATA, vapid_private_key=vapid, vapid_claims={"sub": SUBJECT}, ttl=60,
                               requests_session=session)
            return str(response.status_code)
        except WebPushException as exc:
            return f"error {exc}"[:60]

    def send(subs: list[dict[str, Any]]) -> dict[str, int]:
        outcomes: dict[str, int] = {}
        for status in pool.map(one, subs, chunksize=64):
            outcomes[status] = outcomes.get(status, 0) + 1
        return outcomes

    return send


async def async_timed(config: dict[str, Any], vapid: Vapid, subs: list[dict[str, Any]]) -> dict[str, Any]:
    import aiohttp

    context = ssl.create_default_context(cafile=config["ca_file"])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=0)) as session:

        async def send(batch: list[dict[str, Any]]) -> dict[str, int]:
            outcomes: dict[str, int] = {}
            queue = list(batch)

            async def worker() -> None:
                while queue:
                    sub = queue.pop()
                    try:
                        response = await webpush_async(sub, DATA, vapid_private_key=vapid,
                                                       vapid_claims={"sub": SUBJECT}, ttl=60,
                                                       aiohttp_session=session)
                        status = str(response.status)
                    except WebPushException as exc:
                        status = f"error {exc}"[:60]
                    outcomes[status] = outcomes.get(status, 0) + 1

            await asyncio.gather(*(worker() for _ in range(int(config["concurrency"]))))
            return outcomes

        await send(subs[:50])  # warm up: imports, connections
        return await _timed_async(send, subs)


async def _timed_async(send: Any, subs: list[dict[str, Any]]) -> dict[str, Any]:
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    outcomes = await send(subs)
    cpu = time.process_time() - cpu0
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": cpu, "outcomes": outcomes}


def timed(send: Callable[[list[dict[str, Any]]], Any], subs: list[dict[str, Any]]) -> dict[str, Any]:
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    outcomes = send(subs)
    cpu = time.process_time() - cpu0
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": cpu, "outcomes": outcomes}


def main() -> None:
    config = json.loads(sys.stdin.readline())
    with open(config["subscriptions_file"]) as handle:
        subs = json.load(handle)[: int(config["n"])]
    vapid = Vapid.from_pem(config["vapid_pem"].encode())
    if config["mode"] == "threads":
        send = thread_sender(config, vapid)
        send(subs[:50])  # warm up: imports, connections
        run = timed(send, subs)
    else:
        run = asyncio.run(async_timed(config, vapid, subs))
    outcomes = run["outcomes"]
    print(json.dumps({
        "n": len(subs), "seconds": run["seconds"], "rate": len(subs) / run["seconds"],
        "cpu_seconds": run["cpu_seconds"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": {"sent": outcomes.get("201", 0), **{k: v for k, v in outcomes.items() if k != "201"}},
        "config": f"pywebpush {config['mode']} concurrency={config['concurrency']}",
    }), flush=True)


if __name__ == "__main__":
    main()
