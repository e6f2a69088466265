"""Benchmark child: ``pushgate.WebPush`` to distinct subscriptions, RFC 8291 encryption included.

Reads its JSON config on stdin, prints one JSON result line. The N
subscriptions (a P-256 key pair and auth secret each, as N browsers would
have made) are generated before the clock starts, then one ``send`` call
encrypts for each and posts to the Web Push sink. Figures: wall time, CPU
seconds of this process, peak RSS; the harness checks every one was SENT.
"""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import sys
import time
from typing import Any

from harness.profiling import fail_fast, py_spy
from pushgate import Notification, WebPush
from pushgate.crypto.ece import generate_user_agent_keys
from pushgate.crypto.vapid import VapidKey, b64url_encode
from pushgate.providers.webpush.client import Subscription
from pushgate.results import Status


def subscriptions(origin: str, n: int) -> list[dict[str, Any]]:
    """``n`` distinct browser subscriptions (``toJSON()`` form) on the sink's ``/wpush/`` path."""
    out = []
    for _ in range(n):
        keys = generate_user_agent_keys()
        out.append({
            "endpoint": f"{origin}/wpush/{secrets.token_urlsafe(24)}",
            "keys": {"p256dh": b64url_encode(keys.public_bytes), "auth": b64url_encode(keys.auth_secret)},
        })
    return out


def bench_client(config: dict[str, Any]) -> WebPush:
    """The client a run measures: the run's VAPID key, sink, connections and concurrency, and
    any ``client_options`` (e.g. ``{"encrypt_ahead": 0}``, to compare settings)."""
    host = config["origin"].split("://", 1)[1]
    return WebPush(
        vapid_private_key=config.get("vapid_private_key") or VapidKey.generate(),
        vapid_subject="mailto:bench@pushgate.invalid", allowed_hosts=[host], ca_file=config["ca_file"],
        max_connections_per_origin=int(config["connections"]), concurrency=int(config["concurrency"]),
        **config.get("client_options", {}),
    )


async def run(config: dict[str, Any], subs: list[dict[str, Any]]) -> dict[str, Any]:
    fail_fast(asyncio.get_running_loop())
    n = len(subs)
    tokens = [Subscription.from_json(s) for s in subs]
    client = bench_client(config)
    notification = Notification(title="Benchmark", body="Hello from pushgate", data={"n": 1})
    try:
        await client.send(notification, tokens[:100])  # connect, and sign the VAPID JWT once
        with py_spy(config.get("profile")):
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            result = await client.send(notification, tokens)
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
    finally:
        await client.aclose()
    return {
        "n": n,
        "seconds": elapsed,
        "rate": n / elapsed,
        "cpu_seconds": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": {status.value: result.count(status) for status in Status},
        "reasons": sorted({r.reason for r in result.results if r.reason})[:10],
        "config": f"connections={config['connections']} concurrency={config['concurrency']}",
    }


def configured_subscriptions(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's ``n`` subscriptions: the ones the sink made (a simulator knows only those),
    or new ones for the nginx sink's origin."""
    if config.get("subscriptions_file"):
        with open(config["subscriptions_file"]) as handle:
            return list(json.load(handle)[: int(config["n"])])
    return subscriptions(config["origin"], int(config["n"]))


def main() -> None:
    config = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(run(config, configured_subscriptions(config)))), flush=True)


if __name__ == "__main__":
    main()
