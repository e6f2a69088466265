"""Scenarios 4 and 6: a real ``pushgate serve`` process, driven only through its HTTP API.

The server is configured as an operator would, with ``PUSHGATE_*``
variables: its APNs provider points at the nginx sink (``BASE_URL`` and
``CA_FILE``), its database is a fresh SQLite file or a fresh PostgreSQL
database. Devices are registered through ``POST /v1/devices/import``
(not timed); then one ``POST /v1/sends`` to everyone, and the status is
polled until nothing is pending. CPU seconds and peak RSS are the server's
own (``/proc/<pid>``, its children included), sampled around the send.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

LISTENING_PREFIX = "pushgate listening on "  # pushgate.service.runtime.LISTENING_PREFIX
WORKER_RUNNING = "pushgate worker running"  # printed by pushgate.service.runtime.run_workers
ADMIN_TOKEN = "bench-admin-" + secrets.token_hex(16)
IMPORT_CHUNK = 5000


def pushgate_command() -> list[str]:
    script = Path(sys.executable).with_name("pushgate")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from pushgate.cli import main; main()"]


def _proc_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (workers run as children when configured so)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(p) for p in handle.read().split())
    return pids


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _proc_pids(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def proc_memory_mb(pid: int, key: str) -> float:
    """A ``/proc/<pid>/status`` figure (``VmRSS``, ``VmHWM``) summed over the process tree."""
    total = 0
    for p in _proc_pids(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
    return total / 1024


@dataclass
class Server:
    """One ``pushgate serve`` (or, with ``command=("worker",)``, ``pushgate worker``) subprocess;
    use as a context manager."""

    database_url: str
    workdir: Path
    apns_url: str | None = None
    ca_file: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    command: tuple[str, ...] = ("serve",)
    process: subprocess.Popen[str] | None = None
    url: str = ""
    _reader: threading.Thread | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
        values = {"database_url": self.database_url, "admin_token": ADMIN_TOKEN, "host": "127.0.0.1",
                  "port": 0, "log_level": "warning", **self.settings}
        for name, value in values.items():
            env[f"PUSHGATE_{name.upper()}"] = str(value)
        if self.apns_url:
            env["PUSHGATE_PROVIDERS__APNS__BASE_URL"] = self.apns_url
            env["PUSHGATE_PROVIDERS__APNS__CA_FILE"] = str(self.ca_file)
        return env

    def start(self, timeout: float = 60.0) -> Server:
        log = (self.workdir / f"server-{uuid.uuid4().hex[:6]}.log").open("w")
        self.process = subprocess.Popen(
            [*pushgate_command(), *self.command], env=self.env(), stdout=subprocess.PIPE, stderr=log,
            text=True,
        )
        log.close()
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        found: list[str] = []
        marker = WORKER_RUNNING if self.command[0] == "worker" else LISTENING_PREFIX

        def read() -> None:
            assert self.process is not None
            assert self.process.stdout is not None
            for line in self.process.stdout:
                if line.startswith(marker) and not found:
                    found.append(line[len(marker):].strip())

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        while not found:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pushgate {self.command[0]} did not start: {self.log_tail()}")
            time.sleep(0.05)
        if marker == WORKER_RUNNING:
            return self
        self.url = found[0]
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while http.get("/ready").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("pushgate serve never became ready")
                time.sleep(0.1)
        return self

    def log_tail(self, chars: int = 2000) -> str:
        logs = sorted(self.workdir.glob("server-*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(errors="replace")[-chars:] if logs else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._reader is not None:  # it reads stdout to its end: then the pipe can be closed
            self._reader.join(10)
            self._reader = None
            if self.process is not None and self.process.stdout is not None:
                self.process.stdout.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def idle_rss(workdir: Path, settle: float = 2.0) -> dict[str, Any]:
    """Scenario 6: VmRSS of ``pushgate serve`` (and children) on an empty SQLite database, once ready."""
    with Server(f"sqlite:///{workdir / 'idle.db'}", workdir) as server:
        time.sleep(settle)
        return {"rss_mb": proc_memory_mb(server.pid, "VmRSS"), "processes": len(_proc_pids(server.pid))}


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards."""
    import psycopg

    name = f"pushgate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def end_to_end(server: Server, devices: int, credentials: dict[str, str], poll: float = 0.05,
               timeout: float = 900.0) -> dict[str, Any]:
    """Scenario 4 on a started server: register ``devices`` APNs devices, one send to all, wait."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=120) as http:
        answer = http.post("/v1/apps", json={"name": f"bench-{uuid.uuid4().hex[:6]}"}, headers=admin)
        answer.raise_for_status()
        body = answer.json()
        app_id, auth = body["app"]["id"], {"Authorization": f"Bearer {body['api_key']['key']}"}
        answer = http.put(f"/v1/apps/{app_id}/credentials/apns", headers=admin,
                          json={**credentials, "environment": "production"})
        answer.raise_for_status()
        t_import = time.perf_counter()
        for start in range(0, devices, IMPORT_CHUNK):
            rows = [{"provider": "apns", "token": secrets.token_hex(32), "platform": "ios"}
                    for _ in range(min(IMPORT_CHUNK, devices - start))]
            answer = http.post("/v1/devices/import", json=rows, headers=auth)
            answer.raise_for_status()
            if answer.json()["errors"]:
                raise RuntimeError(f"import errors: {answer.json()['errors'][:3]}")
        import_seconds = time.perf_counter() - t_import
        cpu0 = proc_cpu_seconds(server.pid)
        posted_at = time.time()
        t0 = time.perf_counter()
        answer = http.post("/v1/sends", headers=auth, json={
            "notification": {"title": "Benchmark", "body": "Hello from pushgate"}, "target": {"all": True}})
        if answer.status_code != 202:
            raise RuntimeError(f"send refused: {answer.status_code} {answer.text[:300]}")
        send_id = answer.json()["id"]
        while True:
            status = http.get(f"/v1/sends/{send_id}", headers=auth).json()
            seen = time.perf_counter() - t0
            if status["pending"] == 0 and status["status"] == "done":
                break
            if seen > timeout:
                raise RuntimeError(f"send not done after {timeout} s: {status}")
            time.sleep(poll)
        cpu = proc_cpu_seconds(server.pid) - cpu0
    finished = status.get("finished_at")
    seconds = seen
    if finished:  # the server's own record of the last outcome (same clock: same machine)
        seconds = min(seen, datetime.fromisoformat(finished.replace("Z", "+00:00")).timestamp() - posted_at)
    return {
        "devices": devices, "seconds": seconds, "seconds_polled": seen, "rate": devices / seconds,
        "cpu_seconds": cpu, "peak_rss_mb": proc_memory_mb(server.pid, "VmHWM"),
        "import_seconds": import_seconds,
        "status": {k: status[k] for k in ("targeted", "sent", "failed", "dead", "expired", "pending")},
        "settings": json.dumps(server.settings) if server.settings else "defaults",
    }
