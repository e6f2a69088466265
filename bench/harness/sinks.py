"""The sinks a run sends to: nginx (``harness/nginx.py``), or pushgate's simulators as a fallback.

One object says where each sink is and what a client needs to use it (CA,
credentials the sink accepts, subscriptions it knows), so the scenarios do
not care which kind runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness import nginx
from harness.measure import BENCH_DIR


@dataclass
class Sinks:
    kind: str
    apns: str
    webpush: str
    ca_file: str
    apns410: str | None = None
    apns_credentials: dict[str, str] | None = None
    vapid_private_key: str | None = None
    subscriptions_file: str | None = None



@contextlib.contextmanager
def open_sinks(use_nginx: bool, workdir: Path, subscriptions: int) -> Iterator[Sinks]:
    """nginx when available, else the simulators in a child process (``--quick`` only)."""
    if use_nginx:
        with nginx.NginxSinks() as sinks:
            yield Sinks("nginx " + sinks.version(), sinks.url("apns"), sinks.url("webpush"),
                        str(sinks.ca_file), apns410=sinks.url("apns410"))
        return
    info = workdir / "pysinks.json"
    env = {"PYTHONPATH": str(BENCH_DIR)}
    process = subprocess.Popen([sys.executable, "-m", "harness.pysinks"], stdin=subprocess.PIPE, text=True,
                               env={**os.environ, **env})
    assert process.stdin is not None
    process.stdin.write(json.dumps({"n": subscriptions, "info": str(info)}) + "\n")
    process.stdin.flush()
    try:
        for _ in range(600):
            if info.exists() and info.stat().st_size:
                break
            if process.poll() is not None:
                raise RuntimeError("the simulator sinks exited at start-up")
            time.sleep(0.1)
        data = json.loads(info.read_text())
        yield Sinks("pushgate simulators (fallback: no nginx)", data["apns"], data["webpush"],
                    data["ca_file"], apns_credentials=data["apns_credentials"],
                    vapid_private_key=data["vapid_private_key"],
                    subscriptions_file=data["subscriptions_file"])
    finally:
        process.stdin.close()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
