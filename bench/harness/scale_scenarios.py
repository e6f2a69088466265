"""Scenarios 8 and 10: deliveries/s as sender worker processes are added (docs/scale-out.md).

8. APNs against the nginx sink: one API-only ``pushgate serve`` and k
   ``pushgate worker`` processes, k = 1, 2, 3 on PostgreSQL + Redis Streams
   and k = 1, 2 on SQLite (its own SQL queue), a fresh database per run;
   N devices imported (not timed), one broadcast, timed from the POST to
   the last recorded outcome.
10. The same for Web Push (RFC 8291 encryption per message, CPU-bound, so
   processes are the lever), k = 1, 2 on PostgreSQL + Redis.

Per run: deliveries/s, the CPU seconds of each pushgate process, and how
many of the machine's cores were busy meanwhile (every process on it,
PostgreSQL, Redis and nginx included). The curve "saturates" at the first
k whose extra worker adds less than ``SATURATION_GAIN`` to the rate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from harness import deployment
from harness.child_apns import throwaway_credentials
from harness.report import Row
from harness.scenarios import Options, WrongCount
from harness.sinks import Sinks

SATURATION_GAIN = 0.10  # an extra worker process that adds less than 10% to the rate: saturated


def _apns_env(sinks: Sinks) -> dict[str, Any]:
    return {"providers__apns__base_url": sinks.apns, "providers__apns__ca_file": sinks.ca_file}


def _webpush_env(sinks: Sinks) -> dict[str, Any]:
    host = sinks.webpush.split("://", 1)[1]
    return {"providers__webpush__ca_file": sinks.ca_file,
            "providers__webpush__allowed_hosts": json.dumps([host])}


def _apns_credentials(sinks: Sinks) -> dict[str, Any]:
    return {**(sinks.apns_credentials or throwaway_credentials()), "environment": "production"}


def _webpush_credentials(sinks: Sinks) -> dict[str, Any]:
    from pushgate.crypto.vapid import VapidKey

    key = sinks.vapid_private_key or VapidKey.generate().private_raw()
    return {"vapid_private_key": key, "vapid_subject": "mailto:bench@pushgate.invalid"}


def _webpush_devices(sinks: Sinks, count: int, workdir: Path) -> list[dict[str, Any]]:
    """``count`` distinct subscriptions on the sink, made once (key generation is not timed)."""
    from harness.child_webpush import subscriptions

    cache = workdir / f"webpush-subscriptions-{count}.json"
    if cache.exists():
        subs: list[dict[str, Any]] = json.loads(cache.read_text())
    else:
        subs = subscriptions(sinks.webpush, count)
        cache.write_text(json.dumps(subs))
    return [{"subscription": sub, "platform": "web"} for sub in subs]


def scale_run(opts: Options, be: deployment.Backend, workers: int, provider: str, sinks: Sinks,
              devices: int) -> dict[str, Any]:
    """One broadcast through an API-only process and ``workers`` worker processes."""
    env = _apns_env(sinks) if provider == "apns" else _webpush_env(sinks)
    credentials = _apns_credentials(sinks) if provider == "apns" else _webpush_credentials(sinks)
    with deployment.processes(be, opts.workdir, workers, env) as (api, started), \
            httpx.Client(base_url=api.url, timeout=300) as http:
        app = deployment.create_app(http, provider, credentials)
        rows = (deployment.apns_devices(devices) if provider == "apns"
                else _webpush_devices(sinks, devices, opts.workdir))
        _, import_seconds = deployment.import_devices(http, app, rows)
        pids = {"api": api.pid, **{f"worker{i + 1}": w.pid for i, w in enumerate(started)}}
        try:
            result = deployment.broadcast(http, app, pids, devices, be.database_url)
        except RuntimeError as exc:
            raise WrongCount(f"{be.label}, {workers} worker(s): {exc}") from exc
    result.update(backend=be.label, workers=workers, import_seconds=import_seconds,
                  worker_cpu=sum(v for k, v in result["cpu_seconds"].items() if k != "api"))
    return result


def _curve(opts: Options, number: str, title: str, provider: str, sinks: Sinks, devices: int,
           plan: list[tuple[str, list[int]]]) -> list[Row]:
    rows: list[Row] = []
    for kind, counts in plan:
        previous: float | None = None
        saturated_at: int | None = None
        for workers in counts:
            with deployment.backend(kind, opts.workdir, opts.postgres_url, opts.redis_url) as be:
                opts.log(f"[{number}] {title} on {be.label}: {devices:,} devices, API-only serve + "
                         f"{workers} worker process(es)")
                result = scale_run(opts, be, workers, provider, sinks, devices)
            gain = None if previous is None else result["rate"] / previous - 1
            if gain is not None and gain < SATURATION_GAIN and saturated_at is None:
                saturated_at = workers
            opts.log(f"    {result['rate']:,.0f} deliveries/s ({result['seconds']:.1f} s)"
                     + ("" if gain is None else f", {gain:+.0%} over {workers - 1} worker(s)")
                     + f"; worker CPU {result['worker_cpu']:.1f} s "
                     f"({1e6 * result['worker_cpu'] / devices:.0f} µs/delivery), API CPU "
                     f"{result['cpu_seconds']['api']:.1f} s{_postgres(result)}; "
                     f"machine {result['machine_cores_busy']:.2f} of {_cores()} cores busy")
            rows.append(_row(number, title, be.label, kind, workers, devices, result, gain, saturated_at))
            previous = result["rate"]
    return rows


def _postgres(result: dict[str, Any]) -> str:
    cpu = result.get("postgres_cpu")
    return "" if cpu is None else f", PostgreSQL backends CPU {cpu:.1f} s"


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def _row(number: str, title: str, label: str, kind: str, workers: int, devices: int, result: dict[str, Any],
         gain: float | None, saturated_at: int | None) -> Row:
    per_process = ", ".join(f"{k} {v:.1f}" for k, v in result["cpu_seconds"].items())
    notes = [f"POST → last outcome {result['seconds']:.2f} s; CPU s per process: {per_process}"
             f"{_postgres(result)}; "
             f"machine: {result['machine_cores_busy']:.2f} of {_cores()} cores busy (every process, "
             f"databases and nginx included); import {result['import_seconds']:.1f} s (not timed)"]
    if gain is not None:
        notes.append(f"{gain:+.0%} over {workers - 1} worker process(es)"
                     + (f"; saturated (< +{SATURATION_GAIN:.0%}) at {saturated_at}"
                        if saturated_at == workers else ""))
    tag = {"postgres+redis": "r", "sqlite": "s"}[kind]
    return Row(f"{number}{tag}{workers}", f"{title}, {label}, {workers} worker proc.", rate=result["rate"],
               unit="deliv/s", cpu_seconds=result["cpu_total"], operations=devices,
               config=f"serve --workers 0 + {workers} x pushgate worker, {devices:,} devices",
               target="(curve reported)", notes=notes, details=result)


def scale_rows(opts: Options, sinks: Sinks) -> list[Row]:
    """Scenario 8: APNs deliveries/s with 1, 2, 3 worker processes (PG + Redis) and 1, 2 (SQLite)."""
    plan: list[tuple[str, list[int]]] = []
    if opts.postgres_url and opts.redis_url:
        plan.append(("postgres+redis", [1, 2, 3]))
    plan.append(("sqlite", [1, 2]))
    return _curve(opts, "8", "scale-out APNs", "apns", sinks, opts.scale_devices, plan)


def webpush_scale_rows(opts: Options, sinks: Sinks) -> list[Row]:
    """Scenario 10: Web Push deliveries/s with 1 and 2 worker processes (PG + Redis, else SQLite)."""
    kind = "postgres+redis" if opts.postgres_url and opts.redis_url else "sqlite"
    return _curve(opts, "10", "scale-out Web Push", "webpush", sinks, opts.webpush_devices, [(kind, [1, 2])])
