"""What every benchmark child shares: py-spy on its timed section only, the top functions by
self time, and failing fast on an exception lost in a callback.

The child starts ``py-spy record --pid <itself>`` right before its timed
section and stops it (SIGINT, which makes py-spy write its file) right
after, so key generation and warm-up stay out of the profile. The ``raw``
format is collapsed stacks (``frame;frame;leaf count``): a function's self
time is the samples where it is the leaf.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def fail_fast(loop: asyncio.AbstractEventLoop) -> None:
    """Exit at once on an exception nobody awaits (a callback that raised).

    Such an exception leaves a request's future unresolved, so the send would
    wait for ever; a benchmark must report a crash, not hang until its timeout.
    """

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        loop.default_exception_handler(context)
        if str(context.get("message", "")).startswith("Exception in callback"):
            print("benchmark child: a callback raised, exiting", file=sys.stderr, flush=True)
            os._exit(70)

    loop.set_exception_handler(handler)


@contextlib.contextmanager
def py_spy(config: dict[str, Any] | None) -> Iterator[None]:
    """Profile the enclosed block when ``config`` names ``py_spy`` (binary) and ``out`` (file stem)."""
    if not config:
        yield
        return
    stem = Path(config["out"])
    cmd = [config["py_spy"], "record", "--pid", str(os.getpid()), "--rate", str(config.get("rate", 250)),
           "--nonblocking", "--function", "--format", "raw", "-o", f"{stem}.txt"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(f"{stem}.log", "w"))  # noqa: SIM115
    time.sleep(1.5)  # let it attach before the timed section starts
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def top_self(raw: Path, limit: int = 15) -> list[dict[str, Any]]:
    """The ``limit`` functions with most self samples in a py-spy raw file, with their share."""
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        leaves[leaf] += int(count)
        total += int(count)
    return [
        {"function": name, "samples": samples, "self_percent": round(100 * samples / total, 1)}
        for name, samples in leaves.most_common(limit)
    ] if total else []
