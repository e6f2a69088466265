"""Scenario 11: bulk device import through ``POST /v1/devices/import`` (bench/import_bench.py).

The measurement runs in its own process, a real ``pushgate serve`` per
database; this module turns its JSON into one row per database. The peer
is the same server registering one device per ``POST /v1/devices``: what
an importer without a bulk route does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.measure import BENCH_DIR, last_json, run_measured
from harness.report import Row

if TYPE_CHECKING:
    from harness.scenarios import Options

TARGET = 50_000  # devices/s


def import_rows(opts: Options) -> list[Row]:
    from harness.scenarios import _check

    devices = opts.fanout_devices
    databases = "sqlite,postgres" if opts.postgres_url else "sqlite"
    opts.log(f"[11] bulk import of {devices:,} devices through the API ({databases})")
    command = [sys.executable, str(BENCH_DIR / "import_bench.py"), "--devices", str(devices),
               "--databases", databases, "--per-row", "300" if opts.quick else "2000"]
    if opts.postgres_url:
        command += ["--postgres-url", opts.postgres_url]
    measured = run_measured(command, timeout=5400)
    if measured.returncode != 0:
        raise RuntimeError(f"import_bench failed ({measured.returncode}): {measured.stderr[-1500:]}")
    for line in measured.stdout.splitlines()[:-1]:
        opts.log("    " + line)
    rows = []
    for result in last_json(measured.stdout)["results"]:
        rows.append(_row(result, devices, _check))
    return rows


def _row(result: dict[str, Any], devices: int, check: Callable[..., tuple[str, bool | None]]) -> Row:
    sqlite = result["database"] == "sqlite"
    first, again, peer = result["import"], result["reimport"], result.get("per_row")
    notes = [f"{result['request_rows']:,} rows per request; re-import (all updates) "
             f"{again['rate']:,.0f} devices/s, {1e6 * again['server_cpu_seconds'] / devices:.0f} µs/device"]
    if "cli" in result:
        notes.append(f"pushgate devices import (JSON lines): {result['cli']['rate']:,.0f} devices/s, "
                     f"{1e6 * result['cli']['cli_cpu_seconds'] / devices:.0f} CPU µs/device")
    if first.get("db_cpu_seconds") is not None:
        notes.append(f"CPU is the server's; PostgreSQL's backends add "
                     f"{1e6 * first['db_cpu_seconds'] / devices:.0f} µs/device")
    else:
        notes.append("CPU is the server's" + ("" if sqlite else " (PostgreSQL's own not measured)"))
    label = "SQLite" if sqlite else "PostgreSQL"
    row = Row("11" if sqlite else "11pg", f"bulk import, {devices:,} devices, {label}",
              rate=first["rate"], unit="devices/s", cpu_seconds=first["server_cpu_seconds"],
              operations=devices, config="pushgate serve, defaults", details=result, notes=notes,
              target=f"≥{TARGET // 1000}k devices/s" if devices >= 1_000_000 else "(reported)",
              checks=[check("rate", first["rate"], TARGET)] if devices >= 1_000_000 else [])
    if peer:
        row.vs_peer = first["rate"] / peer["rate"]
        row.peer = f"one POST /v1/devices per device: {peer['rate']:,.0f}/s over {peer['devices']:,}"
    return row
