"""Benchmark child: ``pushgate.APNs`` sending to distinct tokens, one process.

Reads its JSON config on stdin, prints one JSON result line. Tokens are
made and every connection is warmed up first (past APNs' one-stream start,
docs/protocols/apns.md §7); the figures cover the one ``send`` call: wall time, CPU
seconds of this process and its peak RSS. The outcome counts are checked by
the harness (every token SENT, or exactly the tokens the 410 sink kills DEAD).
"""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import sys
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.profiling import fail_fast, py_spy
from pushgate import APNs, Notification
from pushgate.results import Status


def throwaway_credentials() -> dict[str, str]:
    """Any ES256 key does: the nginx sink checks no token."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {"key": pem, "key_id": "BENCHKEY01", "team_id": "BENCHTEAM1", "topic": "com.example.app"}


async def run(config: dict[str, Any]) -> dict[str, Any]:
    fail_fast(asyncio.get_running_loop())
    creds = config.get("credentials") or throwaway_credentials()
    notification = Notification(title="Benchmark", body="Hello from pushgate", badge=1)
    n = int(config["n"])
    tokens = [secrets.token_hex(32) for _ in range(n)]
    connections = int(config["connections"])
    client = APNs(
        key=creds["key"], key_id=creds["key_id"], team_id=creds["team_id"], topic=creds["topic"],
        base_url=config["url"], ca_file=config["ca_file"], max_connections=connections,
        concurrency=int(config["concurrency"]), max_retries=int(config.get("retries", 3)),
    )
    try:
        warm = [secrets.token_hex(32) for _ in range(connections * 200)]
        await client.send(notification, warm)
        with py_spy(config.get("profile")):
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            result = await client.send(notification, tokens)
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
    finally:
        await client.aclose()
    dead_first = config.get("dead_first_hex", "")
    counts = {status.value: result.count(status) for status in Status}
    return {
        "n": n,
        "seconds": elapsed,
        "rate": n / elapsed,
        "cpu_seconds": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": counts,
        "expected_dead": sum(1 for t in tokens if t[0] in dead_first) if dead_first else 0,
        "reasons": sorted({r.reason for r in result.results if r.reason})[:10],
        "config": f"connections={connections} concurrency={config['concurrency']}",
    }


def main() -> None:
    config = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(run(config))), flush=True)


if __name__ == "__main__":
    main()
