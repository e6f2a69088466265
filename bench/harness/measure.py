"""Running a measured child process: wall time, CPU seconds and peak RSS of that child alone.

``os.wait4`` returns the rusage of exactly the child waited for (not of
every child ever reaped, as ``RUSAGE_CHILDREN`` would), so the figures of
h2load, a peer or a pushgate child are never mixed. Children of the harness
print one JSON object as their last stdout line; :func:`run_child` reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float


class ChildFailed(RuntimeError):
    """A benchmark child crashed or printed no result: the run must fail, not report."""


def run_measured(
    cmd: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin_data: str | None = None,
) -> Measured:
    """Run ``cmd`` to completion; kill it after ``timeout`` seconds.

    Output goes to temporary files (a pipe could fill and stall the child).
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(cmd), stdout=out, stderr=err, env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL, text=True,
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            if process.stdin is not None:
                process.stdin.write(stdin_data or "")
                process.stdin.close()
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode=process.returncode, stdout=out.read(), stderr=err.read(), wall_seconds=wall,
            cpu_seconds=usage.ru_utime + usage.ru_stime, peak_rss_mb=usage.ru_maxrss / 1024,
        )


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise ValueError("no JSON result line")


def run_child(
    module: str,
    config: Mapping[str, Any],
    *,
    timeout: float,
    python: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``python -m harness.<module>`` (or a script path with another ``python``) with a JSON config.

    The config is passed on stdin (it can hold key material, which must not
    show in ``ps``). Returns the child's JSON result plus ``process_*``
    figures from ``wait4``; raises :class:`ChildFailed` on a crash.
    """
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), child_env.get("PYTHONPATH")]))
    child_env.setdefault("PYTHONHASHSEED", "0")
    if python is None:
        cmd = [sys.executable, "-m", f"harness.{module}"]
    else:
        cmd = [python, str(BENCH_DIR / "harness" / f"{module}.py")]
    measured = run_measured(cmd, timeout=timeout, env=child_env, stdin_data=json.dumps(config) + "\n")
    try:
        if measured.returncode != 0:
            raise ValueError(f"exit code {measured.returncode}")
        result = last_json(measured.stdout)
    except ValueError as exc:
        raise ChildFailed(f"{module} failed ({exc}); stderr: {measured.stderr[-1500:]}") from exc
    result["process_cpu_seconds"] = round(measured.cpu_seconds, 3)
    result["process_peak_rss_mb"] = round(measured.peak_rss_mb, 1)
    result["process_wall_seconds"] = round(measured.wall_seconds, 3)
    return result
