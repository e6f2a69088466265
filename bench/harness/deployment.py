"""A scale-out deployment for scenarios 8-10: one API-only ``pushgate serve`` and k ``pushgate worker``.

The processes are configured as docs/scale-out.md §1 says an operator
would: the same ``PUSHGATE_*`` values for all of them, ``PUSHGATE_WORKERS=0``
for the API process. On PostgreSQL the queue is Redis Streams
(``queue = "redis"``) under a key prefix of this run's own, whose keys are
deleted afterwards (the Redis server may be shared: nothing is flushed);
on SQLite the queue is the database's own (``queue = "sql"``).

Everything is driven over the HTTP API; a broadcast is timed from just
before its ``POST /v1/sends`` to the server's ``finished_at`` (the last
outcome recorded: same machine, same clock), as scenario 4 does.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from harness import server

SEND_BODY = {"notification": {"title": "Benchmark", "body": "Hello from pushgate"}, "target": {"all": True}}


@dataclass
class Backend:
    """Where a run's state lives: ``label``, the database URL and the queue settings."""

    label: str
    database_url: str
    settings: dict[str, Any] = field(default_factory=dict)


def _delete_redis_prefix(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    finally:
        client.close()


@contextlib.contextmanager
def backend(kind: str, workdir: Path, postgres_url: str | None = None,
            redis_url: str | None = None) -> Iterator[Backend]:
    """A fresh database (and Redis key prefix) for one run: ``sqlite``, ``postgres`` (SQL queue) or
    ``postgres+redis``; all of it is dropped afterwards."""
    if kind == "sqlite":
        path = workdir / f"scale-{uuid.uuid4().hex[:6]}.db"
        url = f"sqlite:///{path}"
        _migrate(url)
        try:
            yield Backend("SQLite", url, {"queue": "sql"})
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    assert postgres_url is not None
    with server.postgres_database(postgres_url) as name:
        url = postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
        _migrate(url)
        if kind == "postgres":
            yield Backend("PostgreSQL", url, {"queue": "sql"})
            return
        assert redis_url is not None
        prefix = f"pushgate-bench:{secrets.token_hex(6)}:"
        try:
            yield Backend("PostgreSQL + Redis", url,
                          {"queue": "redis", "redis_url": redis_url, "redis_key_prefix": prefix})
        finally:
            _delete_redis_prefix(redis_url, prefix)


def _migrate(url: str) -> None:
    subprocess.run([*server.pushgate_command(), "migrate"], check=True, capture_output=True,
                   env={**os.environ, "PUSHGATE_DATABASE_URL": url})


@dataclass
class App:
    id: int
    auth: dict[str, str]


def create_app(http: httpx.Client, provider: str, credentials: dict[str, Any]) -> App:
    """An app with ``provider`` credentials, through the admin API."""
    admin = {"Authorization": f"Bearer {server.ADMIN_TOKEN}"}
    answer = http.post("/v1/apps", json={"name": f"bench-{uuid.uuid4().hex[:6]}"}, headers=admin)
    answer.raise_for_status()
    body = answer.json()
    app = App(body["app"]["id"], {"Authorization": f"Bearer {body['api_key']['key']}"})
    http.put(f"/v1/apps/{app.id}/credentials/{provider}", headers=admin, json=credentials).raise_for_status()
    return app


def apns_devices(count: int) -> Iterator[dict[str, Any]]:
    for _ in range(count):
        yield {"provider": "apns", "token": secrets.token_hex(32), "platform": "ios"}


def import_devices(http: httpx.Client, app: App, devices: Iterable[dict[str, Any]]) -> tuple[int, float]:
    """``POST /v1/devices/import`` in chunks (not timed by the callers); (count, seconds)."""
    started, count = time.perf_counter(), 0
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        answer = http.post("/v1/devices/import", json=chunk, headers=app.auth)
        answer.raise_for_status()
        if answer.json()["errors"]:
            raise RuntimeError(f"import errors: {answer.json()['errors'][:3]}")

    for device in devices:
        chunk.append(device)
        count += 1
        if len(chunk) == server.IMPORT_CHUNK:
            flush()
            chunk = []
    if chunk:
        flush()
    return count, time.perf_counter() - started


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine from /proc/stat: every process, the databases too."""
    with open("/proc/stat") as handle:
        values = [int(x) for x in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def postgres_backends_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``database_url`` (same machine:
    /proc/<pid>/stat is readable by anyone); {} for SQLite."""
    if not database_url.startswith("postgresql"):
        return {}
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
    return {int(pid): server.proc_cpu_seconds(int(pid)) for (pid,) in rows}


def server_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def broadcast(http: httpx.Client, app: App, pids: dict[str, int], expected: int, database_url: str = "",
              poll: float = 0.05, timeout: float = 3600.0) -> dict[str, Any]:
    """One send to all of ``app``'s devices, waited for; seconds to the last outcome, CPU seconds of
    each process in ``pids`` and of the PostgreSQL backends serving ``database_url``, and how busy
    the whole machine was meanwhile."""
    cpu0 = {name: server.proc_cpu_seconds(pid) for name, pid in pids.items()}
    pg0 = postgres_backends_cpu(database_url)
    busy0, total0 = machine_jiffies()
    posted_at = time.time()
    t0 = time.perf_counter()
    answer = http.post("/v1/sends", headers=app.auth, json=SEND_BODY)
    if answer.status_code != 202:
        raise RuntimeError(f"send refused: {answer.status_code} {answer.text[:300]}")
    send_id = answer.json()["id"]
    while True:
        status = http.get(f"/v1/sends/{send_id}", headers=app.auth).json()
        seen = time.perf_counter() - t0
        if status["pending"] == 0 and status["status"] == "done":
            break
        if seen > timeout:
            raise RuntimeError(f"send not done after {timeout} s: {status}")
        time.sleep(poll)
    cpu = {name: server.proc_cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    busy1, total1 = machine_jiffies()
    pg1 = postgres_backends_cpu(database_url)
    # A backend that exited meanwhile is missed; a new one counts from 0 (it started meanwhile).
    postgres_cpu = sum(cpu - pg0.get(pid, 0.0) for pid, cpu in pg1.items()) if pg1 else None
    seconds = seen
    if status.get("finished_at"):
        seconds = min(seen, server_time(status["finished_at"]) - posted_at)
    counts = {k: status[k] for k in ("targeted", "sent", "failed", "dead", "expired", "pending")}
    if counts["sent"] != expected:
        raise RuntimeError(f"broadcast delivered {counts}, expected {expected} sent")
    return {
        "send_id": send_id, "devices": expected, "seconds": seconds, "rate": expected / seconds,
        "cpu_seconds": cpu, "cpu_total": sum(cpu.values()), "postgres_cpu": postgres_cpu,
        "machine_busy": (busy1 - busy0) / max(1, total1 - total0),
        "machine_cores_busy": (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1),
        "status": counts,
    }


@contextlib.contextmanager
def processes(be: Backend, workdir: Path, workers: int, env: dict[str, Any],
              api_workers: int = 0) -> Iterator[tuple[server.Server, list[server.Server]]]:
    """The API process (``api_workers`` sender workers in it: 0 for API-only) and ``workers``
    ``pushgate worker`` processes, all with the same settings; stopped at the end."""
    common = {**be.settings, **env}
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(server.Server(be.database_url, workdir,
                                                settings={**common, "workers": api_workers}))
        started = [stack.enter_context(server.Server(be.database_url, workdir, settings=common,
                                                     command=("worker",)))
                   for _ in range(workers)]
        yield api, started
