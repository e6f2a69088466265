"""Fan-out and delivery bookkeeping throughput of the registry and the SQL queue.

    python bench/fanout_bench.py                       # 100k devices, SQLite file in a temp dir
    python bench/fanout_bench.py --devices 1000000     # the issue's fan-out target: ≤ 60 s, ≤ 300 MB
    python bench/fanout_bench.py --url postgresql+psycopg://postgres@127.0.0.1/bench

Three phases, each timed:

1. **import**: N devices registered with ``import_devices`` (chunks of
   1,000, executemany), in a child process so its memory is not counted
   against the fan-out;
2. **fan-out**: one send to everyone → delivery jobs of ``--chunk``
   devices (peak RSS of this process is printed: memory must not grow with
   the audience);
3. **deliver** (unless ``--no-deliver``): what the sender workers do around
   the network, with a provider that accepts everything instantly — claim a
   job, ``load_chunk``, ``record_outcomes``, complete — until the send is
   done. This is the ceiling the registry and queue put on end-to-end
   deliveries per second.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from pushgate.planner import DeliveryPayload, deliver_queue, fan_out
from pushgate.queue import SqlQueue
from pushgate.registry import (
    Database,
    DeliveryStatus,
    Outcome,
    create_app,
    create_send,
    get_send_status,
    import_devices,
    record_outcomes,
)
from pushgate.registry.chunks import load_chunk
from pushgate.registry.constants import PROVIDERS


def rows(n: int) -> Iterator[dict[str, Any]]:
    """Half APNs, half FCM; one user per 3 devices."""
    for i in range(n):
        if i % 2:
            yield {"provider": "apns", "token": f"{i:064x}", "platform": "ios", "user": f"user{i // 3}"}
        else:
            yield {"provider": "fcm", "token": f"fcm-bench-token-{i:040d}", "platform": "android",
                   "user": f"user{i // 3}"}


def seed(url: str, devices: int) -> None:
    with Database(url) as db:
        db.migrate()
        with db.session() as session:
            app, _ = create_app(session, f"bench-{os.getpid()}")
        started = time.perf_counter()
        result = import_devices(db, app.id, rows(devices))
        elapsed = time.perf_counter() - started
        assert not result.errors, result.errors[:3]
        print(f"import   {devices:>9,} devices in {elapsed:7.2f} s  {devices / elapsed:>10,.0f} rows/s")
        with open(os.environ["BENCH_APP_FILE"], "w") as handle:
            handle.write(str(app.id))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--url", help="database URL (default: a SQLite file in a temp dir)")
    parser.add_argument("--no-deliver", action="store_true")
    parser.add_argument("--claim", type=int, default=4, help="jobs claimed per call in the deliver phase")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        os.environ["BENCH_APP_FILE"] = os.path.join(tmp, "app-id")
        child = multiprocessing.get_context("spawn").Process(target=seed, args=(url, args.devices))
        child.start()
        child.join()
        if child.exitcode:
            sys.exit(child.exitcode)
        with open(os.environ["BENCH_APP_FILE"]) as handle:
            app_id = int(handle.read())

        db = Database(url)
        queue = SqlQueue(db)
        with db.session() as session:
            send_id = create_send(session, app_id, {"title": "Bench", "body": "hello"}, {"all": True}).id
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        result = fan_out(db, queue, send_id, chunk_size=args.chunk)
        elapsed = time.perf_counter() - started
        print(
            f"fan-out  {result.targeted:>9,} devices in {elapsed:7.2f} s"
            f"  {result.targeted / elapsed:>10,.0f} devices/s  {result.jobs:,} jobs"
            f"  peak RSS {peak_rss_mb():.0f} MB (before: {rss_before:.0f} MB)"
        )

        if not args.no_deliver:
            queues = [deliver_queue(p) for p in PROVIDERS]
            delivered = 0
            started = time.perf_counter()
            while jobs := queue.claim(queues, limit=args.claim, lease_seconds=300, worker="bench"):
                for job in jobs:
                    chunk = DeliveryPayload.from_json(job.payload)
                    devices = load_chunk(db, chunk.send_id, chunk.provider, chunk.device_ids)
                    outcomes = [Outcome(d.id, DeliveryStatus.SENT, message_id=f"m-{d.id}") for d in devices]
                    with db.session() as session:
                        record_outcomes(session, chunk.send_id, chunk.provider, outcomes)
                    delivered += len(outcomes)
                queue.complete([job.id for job in jobs])
            elapsed = time.perf_counter() - started
            with db.session(write=False) as session:
                status = get_send_status(session, send_id)
            assert status is not None
            print(
                f"deliver  {delivered:>9,} outcomes in {elapsed:7.2f} s  {delivered / elapsed:>10,.0f} "
                f"deliveries/s  send {status.status}, pending {status.pending}"
            )
        db.dispose()


if __name__ == "__main__":
    main()
