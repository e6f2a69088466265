"""APNs send throughput: notifications/s, CPU seconds and peak RSS of the sending process.

    python bench/apns_send.py [-n 100000] [--connections N] [--concurrency N]
    python bench/apns_send.py --url https://127.0.0.1:8443 --ca ca.pem [--credentials creds.json]

By default the APNs simulator runs in a separate process (so the client and
the sink do not share a core) with recording off; it still verifies every
request (JWT, headers, payload). With ``--url`` any HTTP/2 sink is used
instead; ``--credentials`` takes the JSON of ``pushgate simulate
--credentials-file`` or of ``GET /__control/demo_credentials`` (without it a
throwaway key is generated, which only a sink that does not check tokens accepts).

Every notification goes to a distinct device token. The numbers cover the
send call only: tokens are made and the connections are warmed up first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.connection
import resource
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.notification import Notification
from pushgate.providers.apns.client import APNs
from pushgate.results import Status


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """Child process: run the simulator as a sink until told to stop."""
    from pushgate.simulators.apns import APNsSimulator

    async def main() -> None:
        sim = APNsSimulator(record=False, accept_any_token=True)  # a sink: any token is a device
        await sim.start()
        conn.send(sim.demo_credentials())
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # any message means stop
        conn.send({"accepted": sim.accepted_count, "requests": sim.requests})
        await sim.stop()

    asyncio.run(main())


def _throwaway_credentials() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {"key": pem, "key_id": "BENCHKEY01", "team_id": "BENCHTEAM1", "topic": "com.example.app"}


def _load_credentials(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if "simulators" in data:  # pushgate simulate --credentials-file
        data = data["simulators"]["apns"]["credentials"]
    return dict(data)


async def _send(args: argparse.Namespace, creds: dict[str, Any], url: str, ca_file: str) -> dict[str, Any]:
    notification = Notification(title="Benchmark", body="Hello from pushgate", badge=1)
    tokens = [secrets.token_hex(32) for _ in range(args.n)]
    client = APNs(
        key=creds["key"], key_id=creds["key_id"], team_id=creds["team_id"], topic=creds["topic"],
        base_url=url, ca_file=ca_file, max_connections=args.connections,
        concurrency=args.concurrency, max_retries=args.retries,
    )
    try:
        # Warm up: connect every connection and get past the 1-stream start.
        await client.send(notification, [secrets.token_hex(32) for _ in range(args.connections * 50)])
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        result = await client.send(notification, tokens)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        await client.aclose()
    return {
        "notifications": args.n,
        "sent": result.count(Status.SENT),
        "not_sent": args.n - result.count(Status.SENT),
        "seconds": round(elapsed, 3),
        "notifications_per_second": round(args.n / elapsed),
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "connections": args.connections,
        "concurrency": args.concurrency,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="notifications (distinct tokens)")
    parser.add_argument("--url", help="an HTTP/2 sink instead of a simulator process")
    parser.add_argument("--ca", help="CA file that signs the sink's certificate (with --url)")
    parser.add_argument("--credentials", type=Path, help="JSON credentials for the sink (with --url)")
    parser.add_argument("--connections", type=int, default=1, help="HTTP/2 connections")
    parser.add_argument("--concurrency", type=int, default=1000, help="requests in flight")
    parser.add_argument("--retries", type=int, default=3, help="max retries per notification")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    child: multiprocessing.process.BaseProcess | None = None
    parent_end: multiprocessing.connection.Connection | None = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            if not args.ca:
                parser.error("--url needs --ca")
            url, ca_file = args.url, args.ca
            creds = _load_credentials(args.credentials) if args.credentials else _throwaway_credentials()
        else:
            context = multiprocessing.get_context("spawn")
            parent_end, child_end = context.Pipe()
            child = context.Process(target=_serve, args=(child_end,), daemon=True)
            child.start()
            creds = parent_end.recv()
            url = creds["url"]
            ca_file = str(Path(tmp) / "ca.pem")
            Path(ca_file).write_text(creds["ca"])
        try:
            report = asyncio.run(_send(args, creds, url, ca_file))
        finally:
            if child is not None and parent_end is not None:
                parent_end.send("stop")
                report_sink = parent_end.recv() if parent_end.poll(30) else {}
                child.join(30)
            else:
                report_sink = {}
    if report_sink:
        report["sink_accepted"] = report_sink["accepted"]
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>26}: {value}")
    return 0 if report["not_sent"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
