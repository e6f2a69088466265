"""The peers, each in its own virtual environment under the user's cache directory.

aioapns 4.0 (APNs) and pywebpush 2.5.0 (Web Push) are installed with pip
into ``~/.cache/pushgate-bench/venvs/<name>`` (``$PUSHGATE_BENCH_CACHE``
overrides the root) so their dependency pins never touch pushgate's
environment; a marker file records what was installed, so a later run
reuses it. Each peer runs a script of this package (``peer_*.py``) under
its own interpreter against the same nginx sink as pushgate.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PEERS = {"aioapns": "aioapns==4.0", "pywebpush": "pywebpush==2.5.0"}


def cache_root() -> Path:
    return Path(os.environ.get("PUSHGATE_BENCH_CACHE", Path.home() / ".cache" / "pushgate-bench"))


def ensure_venv(name: str, requirements: list[str], *, log: Path | None = None) -> Path:
    """The interpreter of venv ``name`` with ``requirements`` installed (created on first use)."""
    root = cache_root() / "venvs" / name
    python = root / "bin" / "python"
    marker = root / ".installed"
    wanted = "\n".join(sorted(requirements))
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, stdout=out, stderr=out)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, *requirements], check=True, stdout=out, stderr=out)
    finally:
        if not isinstance(out, int):  # DEVNULL is an int, not a file
            out.close()
    marker.write_text(wanted)
    return python


def peer_python(name: str, log: Path | None = None) -> Path:
    return ensure_venv(name, [PEERS[name]], log=log)


def py_spy_binary(log: Path | None = None) -> Path:
    """py-spy (a Rust binary shipped in a wheel) from the tools venv."""
    return ensure_venv("tools", ["py-spy"], log=log).with_name("py-spy")
