"""Scenario 7: event mode end to end through ``POST /v1/events`` and ``/post_events_proto``.

Set-up (not timed): an app with APNs credentials pointing at the nginx
sink, N devices imported for N users (one each, half of them French; user
ids are decimal numbers, as Pushkin's ``int64`` ones), and one catalog
message with an English and a French localization whose title carries a
per-user parameter. Timed: N events, one per user, posted in batches of
``EVENTS_PER_REQUEST`` — alternately as ``POST /v1/events`` JSON and as
Pushkin's ``POST /post_events_proto`` protobuf (docs/pushkin.md) — each
triggering that message, until the last event send records its last
outcome. The rate is notifications delivered per second from the first
POST to the server's own ``finished_at`` of the last send; CPU seconds and
peak RSS are the server's (``pushgate serve`` with its defaults: the API
and one sender worker in one process, so one core at most).

Rows ``7w`` and ``7w2`` are the same on SQLite with the API and the
workers apart, the deployment of the README's "Scaling out":
``pushgate serve`` with ``PUSHGATE_WORKERS=0`` (API only) and one or two
``pushgate worker`` processes on the same database file, so the work can
spread over the cores; their CPU seconds and peak RSS are all processes'
together.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from harness import server
from harness.child_apns import throwaway_credentials
from harness.report import Row
from harness.sinks import Sinks

EVENTS_PER_REQUEST = 2000
EVENT_ID = 1001
MESSAGE = {
    "events": [EVENT_ID],
    "localizations": {
        "en": {"title": "Hello {name}", "body": "Your order {order} has shipped"},
        "fr": {"title": "Bonjour {name}", "body": "Votre commande {order} est en route"},
    },
}


def events_end_to_end(srv: server.Server, users: int, credentials: dict[str, str], poll: float = 0.05,
                      timeout: float = 900.0, workers: Sequence[server.Server] = ()) -> dict[str, Any]:
    """Register ``users`` users with one APNs device each, then one event per user; wait for the outcomes.

    CPU seconds and peak RSS are those of ``srv`` and of the ``workers`` processes beside it.
    """
    pids = [srv.pid, *(worker.pid for worker in workers)]
    admin = {"Authorization": f"Bearer {server.ADMIN_TOKEN}"}
    with httpx.Client(base_url=srv.url, timeout=300) as http:
        answer = http.post("/v1/apps", json={"name": f"bench-events-{uuid.uuid4().hex[:6]}"}, headers=admin)
        answer.raise_for_status()
        body = answer.json()
        app_id, auth = body["app"]["id"], {"Authorization": f"Bearer {body['api_key']['key']}"}
        http.put(f"/v1/apps/{app_id}/credentials/apns", headers=admin,
                 json={**credentials, "environment": "production"}).raise_for_status()
        http.put("/v1/messages/shipped", json=MESSAGE, headers=auth).raise_for_status()
        t_import = time.perf_counter()
        for start in range(0, users, server.IMPORT_CHUNK):
            rows = [{"provider": "apns", "token": secrets.token_hex(32), "platform": "ios", "user": str(i),
                     "locale": "fr-FR" if i % 2 else "en-US"}
                    for i in range(start, min(users, start + server.IMPORT_CHUNK))]
            answer = http.post("/v1/devices/import", json=rows, headers=auth)
            answer.raise_for_status()
            if answer.json()["errors"]:
                raise RuntimeError(f"import errors: {answer.json()['errors'][:3]}")
        import_seconds = time.perf_counter() - t_import
        # Not timed: the first request that reaches a route makes FastAPI build its routers' state
        # (tenths of a second of CPU, once per process); a running server has paid it long ago.
        http.post("/post_events_proto", content=b"", headers=auth)  # 400: an empty body
        http.get("/v1/events/warm-up", headers=auth)  # 404
        http.get("/v1/sends/warm-up", headers=auth)  # 404
        stamp = int(time.time() * 1000)
        requests = [_request(number, range(start, min(users, start + EVENTS_PER_REQUEST)), stamp)
                    for number, start in enumerate(range(0, users, EVENTS_PER_REQUEST))]
        cpu0 = [server.proc_cpu_seconds(pid) for pid in pids]
        posted_at = time.time()
        t0 = time.perf_counter()
        batches = []
        waited = 0.0
        for path, body, accepted in requests:
            while True:
                answer = http.post(path, headers=auth, **body)
                if answer.status_code != 503:
                    break
                pause = float(answer.headers.get("Retry-After", "1"))  # backpressure: as a client would
                waited += pause
                time.sleep(pause)
            if answer.status_code != accepted or answer.json()["rejected"]:
                raise RuntimeError(f"events refused by {path}: {answer.status_code} {answer.text[:300]}")
            batches.append(answer.json()["id"])
        posted = time.perf_counter() - t0
        sends: list[str] = []
        counts: dict[str, int] = {}
        for batch_id in batches:
            while True:
                shown = http.get(f"/v1/events/{batch_id}", headers=auth).json()
                if shown["status"] == "done":
                    sends += shown["outcome"]["sends"]
                    for key, value in shown["outcome"]["counts"].items():
                        counts[key] = counts.get(key, 0) + value
                    break
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"batch not decided after {timeout} s: {shown}")
                time.sleep(poll)
        decided = time.perf_counter() - t0
        totals = {"targeted": 0, "sent": 0, "failed": 0, "dead": 0, "expired": 0, "pending": 0}
        last_finish = 0.0
        for send_id in sends:
            while True:
                status = http.get(f"/v1/sends/{send_id}", headers=auth).json()
                if status["status"] == "done" and status["pending"] == 0:
                    break
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"send not done after {timeout} s: {status}")
                time.sleep(poll)
            for key in totals:
                totals[key] += status[key]
            finished = datetime.fromisoformat(status["finished_at"].replace("Z", "+00:00")).timestamp()
            last_finish = max(last_finish, finished)
        seen = time.perf_counter() - t0
        cpu_by_process = [server.proc_cpu_seconds(pid) - before
                          for pid, before in zip(pids, cpu0, strict=True)]
        cpu = sum(cpu_by_process)
    seconds = min(seen, last_finish - posted_at) if last_finish else seen
    return {
        "users": users, "seconds": seconds, "seconds_polled": seen, "rate": totals["sent"] / seconds,
        "posted_seconds": posted, "backpressure_seconds": waited, "decided_seconds": decided,
        "cpu_seconds": cpu, "cpu_seconds_by_process": cpu_by_process,
        "peak_rss_mb": sum(server.proc_memory_mb(pid, "VmHWM") for pid in pids),
        "import_seconds": import_seconds,
        "status": totals, "counts": counts, "sends": len(sends), "events_per_request": EVENTS_PER_REQUEST,
    }


def _request(number: int, users: range, stamp: int) -> tuple[str, dict[str, Any], int]:
    """One request's route, body and success status: even ones JSON to /v1/events, odd ones Pushkin
    protobuf to /post_events_proto (a Pushkin ``pairs`` list becomes the event's params)."""
    params = [(i, {"name": f"Customer {i}", "order": f"A-{i:07d}"}) for i in users]
    if number % 2 == 0:
        events = [{"user_id": str(i), "event_id": EVENT_ID, "timestamp": stamp, "params": values}
                  for i, values in params]
        return "/v1/events", {"json": {"events": events}}, 202
    from pushgate.pushkin import proto

    batch = proto.BatchEventRequest()
    for i, values in params:
        event = batch.events.add()
        event.user_id, event.event_id, event.timestamp = i, EVENT_ID, stamp
        for key, value in values.items():
            pair = event.pairs.add()
            pair.key, pair.value = key, value
    body: bytes = batch.SerializeToString()
    return "/post_events_proto", {"content": body}, 200


def events_rows(opts: Any, sinks: Sinks) -> list[Row]:
    """Scenario 7 on SQLite (the target), on SQLite with the worker in its own process (7w) and,
    when a PostgreSQL URL is given, on PostgreSQL."""
    rows = []
    credentials = sinks.apns_credentials or throwaway_credentials()
    # (row, label, database, worker processes beside an API-only serve; 0: one pushgate serve)
    variants = [("7", "SQLite", "sqlite", 0), ("7w", "SQLite", "sqlite", 1), ("7w2", "SQLite", "sqlite", 2)]
    if opts.postgres_url:
        variants.append(("7pg", "PostgreSQL", "postgres", 0))
    for number, label, kind, apart in variants:
        shape = f"API and {apart} worker process{'es' if apart > 1 else ''}" if apart else "one process"
        opts.log(f"[{number}] event mode end to end on {label} ({shape}): {opts.e2e_devices:,} events for "
                 "as many users")
        with contextlib.ExitStack() as stack:
            if kind == "sqlite":
                url = f"sqlite:///{opts.workdir / f'events-{number}.db'}"
            else:
                name = stack.enter_context(server.postgres_database(opts.postgres_url))
                base = opts.postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
                url = f"{base}/{name}"
                subprocess.run([*server.pushgate_command(), "migrate"], check=True, capture_output=True,
                               env={**os.environ, "PUSHGATE_DATABASE_URL": url})
            ca_file = Path(sinks.ca_file)
            srv = stack.enter_context(server.Server(url, opts.workdir, apns_url=sinks.apns, ca_file=ca_file,
                                                    settings={"workers": 0} if apart else {}))
            workers = [stack.enter_context(server.Server(url, opts.workdir, apns_url=sinks.apns,
                                                         ca_file=ca_file, command=("worker",)))
                       for _ in range(apart)]
            result = events_end_to_end(srv, opts.e2e_devices, credentials, workers=workers)
        opts.log(f"    {result['rate']:,.0f} notifications/s ({result['seconds']:.1f} s; posted in "
                 f"{result['posted_seconds']:.1f} s, decided in {result['decided_seconds']:.1f} s), "
                 f"status {result['status']}; CPU {result['cpu_seconds']:.2f} s "
                 f"({', '.join(f'{c:.2f}' for c in result['cpu_seconds_by_process'])})")
        if result["status"]["sent"] != opts.e2e_devices:
            from harness.scenarios import WrongCount

            raise WrongCount(f"event mode on {label}: {result['status']} {result['counts']}")
        per = result["cpu_seconds"] / opts.e2e_devices * 1e6
        if apart:
            api_cpu, *worker_cpu = result["cpu_seconds_by_process"]
            config, where_cpu = f"serve --workers 0 + {apart} x pushgate worker", (
                f"CPU and RSS are all processes' (API {api_cpu:.2f} s, "
                f"worker{'s' if apart > 1 else ''} {', '.join(f'{c:.2f}' for c in worker_cpu)} s)")
        else:
            config, where_cpu = "pushgate serve, defaults", (
                "CPU and RSS are the server's (pushgate serve: API and sender worker in one process)")
        apart_text = f", {apart} worker{'s' if apart > 1 else ''} apart" if apart else ""
        row = Row(number, f"event mode end to end, {opts.e2e_devices:,} events, {label}{apart_text}",
                  rate=result["rate"],
                  unit="notif/s", cpu_seconds=result["cpu_seconds"], operations=opts.e2e_devices,
                  peak_rss_mb=result["peak_rss_mb"], config=config, details=result,
                  notes=[f"first POST → last outcome {result['seconds']:.2f} s "
                         f"({result['events_per_request']:,} events per request, alternately /v1/events "
                         "JSON and /post_events_proto protobuf, one localized message each); "
                         f"{per:.1f} CPU µs per notification; "
                         f"import {result['import_seconds']:.1f} s (not timed); {where_cpu}"])
        if kind == "sqlite":
            from harness.scenarios import _check

            row.target = "≥20k notifications/s"
            row.checks = [_check("rate", result["rate"], 20_000)]
        else:
            row.target = "(reported)"
        rows.append(row)
    return rows
