"""Peer run: aioapns 4.0 against the benchmark's APNs sink (runs in the peer's own venv).

aioapns hard-codes Apple's hosts (docs/protocols/apns.md §7). The least invasive
way to point it at the sink is to set two class attributes of its protocol
class, nothing else: ``APNsProductionClientProtocol.APNS_SERVER`` (the host
it connects to and sends as ``host``) and ``APNS_PORT``. Its request code,
pool, JWT signing and h2 handling are untouched. The TLS context passed
through its public ``ssl_context=`` argument trusts the sink's CA and
offers ALPN ``h2`` (aioapns' default context offers no ALPN, and nginx,
like any ALPN server, would then speak HTTP/1.1).

Reads a JSON config on stdin, prints one JSON result line. N notifications
to distinct tokens are sent with ``concurrency`` coroutines in flight, the
way an aioapns user fans out (``asyncio.gather`` over a bounded set).
"""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import ssl
import sys
import time
import uuid
from typing import Any

from aioapns import APNs, NotificationRequest, PushType
from aioapns.connection import APNsProductionClientProtocol


async def run(config: dict[str, Any]) -> dict[str, Any]:
    APNsProductionClientProtocol.APNS_SERVER = config["host"]
    APNsProductionClientProtocol.APNS_PORT = int(config["port"])
    context = ssl.create_default_context(cafile=config["ca_file"])
    context.set_alpn_protocols(["h2"])
    client = APNs(
        key=config["key"], key_id="BENCHKEY01", team_id="BENCHTEAM1", topic="com.example.app",
        use_sandbox=False, ssl_context=context, max_connections=int(config["connections"]),
    )
    message = {"aps": {"alert": {"title": "Benchmark", "body": "Hello from pushgate"}, "badge": 1}}
    n = int(config["n"])
    tokens = [secrets.token_hex(32) for _ in range(n)]
    outcomes: dict[str, int] = {}

    async def one(token: str) -> None:
        request = NotificationRequest(device_token=token, message=message,
                                      notification_id=str(uuid.uuid4()), push_type=PushType.ALERT)
        result = await client.send_notification(request)
        key = "sent" if result.is_successful else f"{result.status} {result.description}"
        outcomes[key] = outcomes.get(key, 0) + 1

    async def worker(queue: list[str]) -> None:
        while queue:
            await one(queue.pop())

    async def send_all(batch: list[str]) -> None:
        queue = list(batch)
        await asyncio.gather(*(worker(queue) for _ in range(int(config["concurrency"]))))

    await send_all([secrets.token_hex(32) for _ in range(200)])  # connect and warm up
    outcomes.clear()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await send_all(tokens)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "n": n, "seconds": elapsed, "rate": n / elapsed, "cpu_seconds": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": outcomes, "config": f"aioapns connections={config['connections']} "
                                      f"concurrency={config['concurrency']}",
    }


def main() -> None:
    config = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(run(config))), flush=True)


if __name__ == "__main__":
    main()
