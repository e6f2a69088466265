"""The ceiling: h2load (nghttp2, C) posting the same requests to the same sink.

The ratio to h2load answers "how much of what this machine and this sink
can do does the Python client reach". h2load runs one thread (``-t 1``), as
the library runs one process, with the method, headers and body size of
the library's requests; its CPU seconds come from ``wait4`` on the child.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.measure import run_measured

_FINISHED = re.compile(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s")
_REQUESTS = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed")
_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def h2load_binary() -> str | None:
    return shutil.which("h2load")


@dataclass
class H2loadResult:
    rate: float
    seconds: float
    done: int
    succeeded: int
    status: dict[str, int]
    cpu_seconds: float
    peak_rss_mb: float
    config: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def parse_output(text: str) -> dict[str, Any]:
    """The numbers of an h2load report (raises ValueError when the run did not finish)."""
    finished = _FINISHED.search(text)
    requests = _REQUESTS.search(text)
    if finished is None or requests is None:
        raise ValueError(f"unrecognised h2load output: {text[-800:]}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    status = _STATUS.search(text)
    codes = dict(zip(("2xx", "3xx", "4xx", "5xx"), map(int, status.groups()), strict=True)) if status else {}
    return {
        "seconds": seconds,
        "rate": float(finished.group(3)),
        "done": int(requests.group(3)),
        "succeeded": int(requests.group(4)),
        "status": codes,
    }


def run_h2load(
    urls: list[str],
    *,
    n: int,
    clients: int,
    streams: int,
    headers: dict[str, str],
    body: bytes,
    workdir: Path,
    timeout: float = 300.0,
) -> H2loadResult:
    """POST ``body`` ``n`` times over ``clients`` connections with ``streams`` in flight each."""
    binary = h2load_binary()
    if binary is None:
        raise FileNotFoundError("h2load is not installed (python bench/run.py --install)")
    body_file = workdir / f"h2load-body-{os.getpid()}-{time.monotonic_ns()}"
    body_file.write_bytes(body)
    cmd = [binary, "-n", str(n), "-c", str(clients), "-m", str(streams), "-t", "1", "-d", str(body_file)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd += urls
    try:
        measured = run_measured(cmd, timeout=timeout)
    finally:
        body_file.unlink(missing_ok=True)
    if measured.returncode != 0:
        raise RuntimeError(f"h2load failed ({measured.returncode}): {measured.stderr[-800:]}")
    parsed = parse_output(measured.stdout)
    return H2loadResult(
        rate=parsed["rate"],
        seconds=parsed["seconds"],
        done=parsed["done"],
        succeeded=parsed["succeeded"],
        status=parsed["status"],
        cpu_seconds=measured.cpu_seconds,
        peak_rss_mb=measured.peak_rss_mb,
        config=f"h2load -c {clients} -m {streams} -t 1",
    )
