"""Benchmark child: scenario 3's ratio, pushgate's Web Push sends against bare RFC 8291 encryption,
measured in alternating rounds of one process.

Why rounds: on a shared machine the CPU's speed drifts by ±25% from one
minute to the next, so a ceiling measured for a few seconds before the
sends (the figure scenario 3 used to divide by) moved by as much as the
differences worth measuring. Here every round measures all three sides
back to back on the same slice of subscriptions, in the same process and
against the same nginx connection, in an order that rotates from round to
round, so drift and the order both hit every side alike:

- ``bare``: :func:`harness.child_crypto.bare_encrypt`, RFC 8291 written the
  textbook way on ``cryptography`` alone, one encryption per subscription;
- ``ece``: ``pushgate.crypto.ece`` alone (``Recipient.encrypt``);
- ``pushgate``: one ``WebPush.send`` to the slice: encryption, VAPID,
  HTTP/2 over TLS to the sink, every answer read and classified.

The garbage collector's full pass owed for loading the subscriptions is
run before the first round, so no side is charged for the set-up. Each
side's figure is operations per CPU second of this process
(``time.process_time``; the client is single-threaded and waiting for the
sink costs no CPU). The result is every round's figures, the per-round
ratio pushgate/bare (and ece/bare), and their median, minimum and maximum.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.child_crypto import PLAINTEXT, bare_encrypt
from harness.child_webpush import bench_client, configured_subscriptions
from harness.profiling import fail_fast
from pushgate import Notification
from pushgate.crypto import ece
from pushgate.providers.webpush.client import Subscription
from pushgate.results import Status

SIDES = ("bare", "ece", "pushgate")


def _cpu_rate(count: int, run: Callable[[], object]) -> dict[str, float]:
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    run()
    cpu = time.process_time() - cpu0
    return {"count": count, "cpu_seconds": cpu, "wall_seconds": time.perf_counter() - t0,
            "per_cpu_second": count / cpu}


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median and spread of per-round figures."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "spread": max(values) - min(values)}


async def run(config: dict[str, Any], subs: list[dict[str, Any]]) -> dict[str, Any]:
    fail_fast(asyncio.get_running_loop())
    rounds = int(config["rounds"])
    tokens = [Subscription.from_json(s) for s in subs]
    per_round = len(tokens) // rounds
    if per_round < 1:
        raise SystemExit(f"{len(tokens)} subscriptions cannot make {rounds} rounds")
    # What bare encryption gets from a subscription, parsed before any clock starts as
    # pushgate's Recipient is: the cryptography key, the p256dh octets and the auth secret.
    bare_keys = [(ece.load_public_key(t.recipient.public_bytes), t.recipient.public_bytes,
                  t.recipient.auth_secret) for t in tokens]
    client = bench_client(config)
    notification = Notification(title="Benchmark", body="Hello from pushgate", data={"n": 1})
    figures: list[dict[str, dict[str, float]]] = []
    orders: list[list[str]] = []
    counts = dict.fromkeys((s.value for s in Status), 0)
    try:
        await client.send(notification, tokens[:100])  # connect, and sign the VAPID JWT once
        # Parsing the subscriptions left the collector owing a full pass over them; without this
        # it falls due in the first round, on whichever side allocates first (a 5% round).
        gc.collect()
        for number in range(rounds):
            chunk = tokens[number * per_round:(number + 1) * per_round]
            keys = bare_keys[number * per_round:(number + 1) * per_round]
            sent: list[Any] = []

            def do_bare(keys: list[Any] = keys) -> None:
                for key, public, auth in keys:
                    bare_encrypt(PLAINTEXT, key, public, auth)

            def do_ece(chunk: list[Subscription] = chunk) -> None:
                for token in chunk:
                    token.recipient.encrypt(PLAINTEXT)

            round_figures: dict[str, dict[str, float]] = {}
            order = SIDES[number % 3:] + SIDES[:number % 3]  # each side first, middle and last in turn
            if number % 2:
                order = order[::-1]
            for side in order:
                if side == "bare":
                    round_figures[side] = _cpu_rate(len(keys), do_bare)
                elif side == "ece":
                    round_figures[side] = _cpu_rate(len(chunk), do_ece)
                else:
                    cpu0 = time.process_time()
                    t0 = time.perf_counter()
                    sent.append(await client.send(notification, chunk))
                    cpu = time.process_time() - cpu0
                    round_figures[side] = {"count": len(chunk), "cpu_seconds": cpu,
                                           "wall_seconds": time.perf_counter() - t0,
                                           "per_cpu_second": len(chunk) / cpu}
            for status in Status:
                counts[status.value] += sent[0].count(status)
            figures.append(round_figures)
            orders.append(list(order))
    finally:
        await client.aclose()
    ratios = [r["pushgate"]["per_cpu_second"] / r["bare"]["per_cpu_second"] for r in figures]
    ece_ratios = [r["ece"]["per_cpu_second"] / r["bare"]["per_cpu_second"] for r in figures]
    return {
        "rounds": rounds,
        "per_round": per_round,
        "n": per_round * rounds,
        "counts": counts,
        "figures": figures,
        "orders": orders,
        "ratio": summary(ratios),
        "ratios": ratios,
        "ece_ratio": summary(ece_ratios),
        **{side: summary([r[side]["per_cpu_second"] for r in figures]) for side in SIDES},
        "config": f"connections={config['connections']} concurrency={config['concurrency']}",
    }


def main() -> None:
    config = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(run(config, configured_subscriptions(config)))), flush=True)


if __name__ == "__main__":
    main()
