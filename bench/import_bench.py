"""Bulk device import: devices/s through ``POST /v1/devices/import`` and ``pushgate devices import``.

    python bench/import_bench.py                         # 1,000,000 devices, SQLite and PostgreSQL
    python bench/import_bench.py --devices 100000 --databases sqlite
    python bench/import_bench.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

For each database (a fresh SQLite file; a PostgreSQL database created for
the run and dropped after it), a real ``pushgate serve`` and one app:

1. **import**: N new devices posted in requests of ``--request-rows``
   rows, one after the other (the bodies are serialized before the clock
   starts: the client's JSON encoding is not the server's work);
2. **re-import**: the same N devices again (every row an update);
3. **CLI**: N other devices from a JSON-lines file with ``pushgate devices
   import`` (its own process: its wall time and CPU seconds);
4. **one request per device** (the peer approach, without a bulk route):
   ``--per-row`` devices registered with ``POST /v1/devices``.

Rows: half APNs, half FCM, a user per two devices, platform and locale
on all, two tags on one in ten. Printed per step: devices/s (wall), CPU
seconds of ``pushgate serve`` (SQLite runs inside it) and, when
PostgreSQL runs on the same machine, of its backends serving the
database, with CPU µs per device. The last line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import server
from harness.measure import run_measured

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def device_rows(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        row: dict[str, Any]
        if i % 2:
            row = {"provider": "apns", "token": f"{i:064x}", "platform": "ios", "locale": "en-US"}
        else:
            row = {"provider": "fcm", "token": f"fcm:{i:012d}-APA91b{'x' * 140}", "platform": "android",
                   "locale": "fr-FR"}
        row["user"] = f"user-{i // 2}"
        if i % 10 == 0:
            row["tags"] = ["beta", f"cohort-{i % 7}"]
        yield row


def bodies(n: int, per_request: int, start: int = 0) -> list[bytes]:
    rows = device_rows(n, start)
    out = []
    for first in range(0, n, per_request):
        batch = [next(rows) for _ in range(min(per_request, n - first))]
        out.append(json.dumps(batch).encode())
    return out


def postgres_cpu_seconds(admin_url: str, database: str) -> float | None:
    """CPU seconds of the PostgreSQL backends serving ``database``, when they run on this machine
    (their ``/proc`` entries readable); None otherwise."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        pids = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,))]
    total = 0.0
    for pid in pids:
        try:
            total += server.proc_cpu_seconds(pid)
        except OSError:
            return None
    return total if pids and os.path.exists(f"/proc/{pids[0]}") else None


def post_all(http: httpx.Client, srv: server.Server, headers: dict[str, str], payloads: list[bytes],
             expect: str, db_cpu: Callable[[], float | None]) -> dict[str, Any]:
    """POST the bodies in turn; wall time, the server's CPU seconds and PostgreSQL's if on this host."""
    db0 = db_cpu()
    cpu0 = server.proc_cpu_seconds(srv.pid)
    started = time.perf_counter()
    totals = {"created": 0, "updated": 0, "errors": 0}
    for body in payloads:
        answer = http.post("/v1/devices/import", content=body,
                           headers={**headers, "Content-Type": "application/json"})
        answer.raise_for_status()
        result = answer.json()
        totals["created"] += result["created"]
        totals["updated"] += result["updated"]
        totals["errors"] += len(result["errors"])
    seconds = time.perf_counter() - started
    cpu = server.proc_cpu_seconds(srv.pid) - cpu0
    db1 = db_cpu()
    devices = totals["created"] + totals["updated"]
    if totals["errors"] or totals[expect] != devices:
        raise RuntimeError(f"unexpected import result: {totals}")
    return {"devices": devices, "seconds": seconds, "rate": devices / seconds, "server_cpu_seconds": cpu,
            "db_cpu_seconds": db1 - (db0 or 0.0) if db1 is not None else None}


def per_row(http: httpx.Client, srv: server.Server, headers: dict[str, str], n: int) -> dict[str, Any]:
    rows = list(device_rows(n, start=50_000_000))
    cpu0 = server.proc_cpu_seconds(srv.pid)
    started = time.perf_counter()
    for row in rows:
        http.post("/v1/devices", json=row, headers=headers).raise_for_status()
    seconds = time.perf_counter() - started
    cpu = server.proc_cpu_seconds(srv.pid) - cpu0
    return {"devices": n, "seconds": seconds, "rate": n / seconds, "server_cpu_seconds": cpu}


def cli_import(url: str, app_id: int, n: int, workdir: Path) -> dict[str, Any]:
    path = workdir / "devices.jsonl"
    with path.open("w") as handle:
        for row in device_rows(n, start=100_000_000):
            handle.write(json.dumps(row) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["PUSHGATE_DATABASE_URL"] = url
    command = [*server.pushgate_command(), "devices", "import", str(path), "--app", str(app_id)]
    measured = run_measured(command, timeout=3600, env=env)
    if measured.returncode != 0 or f"{n} created" not in measured.stdout:
        raise RuntimeError(f"pushgate devices import failed: {measured.stdout[-500:]}"
                           f" {measured.stderr[-1500:]}")
    path.unlink()
    return {"devices": n, "seconds": measured.wall_seconds, "rate": n / measured.wall_seconds,
            "cli_cpu_seconds": measured.cpu_seconds}


@contextlib.contextmanager
def database(kind: str, workdir: Path, postgres_url: str) -> Iterator[tuple[str, str | None]]:
    """A database URL, and the PostgreSQL database's name (None for SQLite)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'import-{uuid.uuid4().hex[:6]}.db'}", None
        return
    with server.postgres_database(postgres_url) as name:
        base = postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        url = f"{base}/{name}"
        subprocess.run([*server.pushgate_command(), "migrate"], check=True, capture_output=True,
                       env={**os.environ, "PUSHGATE_DATABASE_URL": url})
        yield url, name


def measure(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    payloads = bodies(args.devices, args.request_rows)
    figures: dict[str, Any] = {"database": kind, "devices": args.devices, "request_rows": args.request_rows}
    with database(kind, workdir, args.postgres_url) as (url, name), server.Server(url, workdir) as srv, \
            httpx.Client(base_url=srv.url, timeout=3600) as http:

        def db_cpu() -> float | None:
            return postgres_cpu_seconds(args.postgres_url, name) if name else None

        admin = {"Authorization": f"Bearer {server.ADMIN_TOKEN}"}
        answer = http.post("/v1/apps", json={"name": f"import-{uuid.uuid4().hex[:6]}"}, headers=admin)
        answer.raise_for_status()
        app_id = answer.json()["app"]["id"]
        headers = {"Authorization": f"Bearer {answer.json()['api_key']['key']}"}
        figures["import"] = post_all(http, srv, headers, payloads, "created", db_cpu)
        report(kind, "import", figures["import"])
        figures["reimport"] = post_all(http, srv, headers, payloads, "updated", db_cpu)
        report(kind, "re-import", figures["reimport"])
        del payloads
        if args.cli:
            figures["cli"] = cli_import(url, app_id, args.devices, workdir)
            report(kind, "CLI import", figures["cli"])
        if args.per_row:
            figures["per_row"] = per_row(http, srv, headers, args.per_row)
            report(kind, "per-row POST", figures["per_row"])
    return figures


def report(kind: str, step: str, figures: dict[str, Any]) -> None:
    whose = "server" if "server_cpu_seconds" in figures else "CLI"
    cpu = float(figures[f"{whose.lower()}_cpu_seconds"])
    line = (f"{kind:<10} {step:<13} {figures['devices']:>9,} devices in {figures['seconds']:7.2f} s"
            f"  {figures['rate']:>9,.0f} devices/s  {whose} CPU {cpu:6.2f} s"
            f" ({1e6 * cpu / figures['devices']:.1f} µs/device)")
    if figures.get("db_cpu_seconds") is not None:
        db = figures["db_cpu_seconds"]
        line += f"  PostgreSQL CPU {db:6.2f} s ({1e6 * db / figures['devices']:.1f} µs/device)"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--request-rows", type=int, default=25_000,
                        help="rows per POST /v1/devices/import (the server takes 10 MB bodies by default)")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="admin URL: a database is created")
    parser.add_argument("--per-row", type=int, default=5000, help="devices posted one per request (0: skip)")
    parser.add_argument("--no-cli", dest="cli", action="store_false", help="skip pushgate devices import")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="pushgate-import-") as tmp:
        for kind in args.databases.split(","):
            results.append(measure(kind.strip(), args, Path(tmp)))
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
