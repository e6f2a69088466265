"""A port another process holds: one line naming it and the option to change, then exit; no traceback.

Each command runs as the ``pushgate`` script in a subprocess, against a port
this test holds with a listening socket of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PUSHGATE = str(Path(sys.executable).with_name("pushgate"))
NOISE = ("Traceback", "Task was destroyed", "never awaited", "Task exception was never retrieved", "│")


@pytest.fixture
def taken() -> Iterator[int]:
    """A port with a listener on 127.0.0.1 (this test's own socket)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["PUSHGATE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'pushgate.db'}"
    return subprocess.run([PUSHGATE, *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def _assert_one_clear_line(done: subprocess.CompletedProcess[str], line: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert line in done.stderr.splitlines(), output
    for noise in NOISE:
        assert noise not in output, output


def test_serve_on_a_taken_port(tmp_path: Path, taken: int) -> None:
    done = _run(tmp_path, "serve", "--port", str(taken), "--drain", "1")
    _assert_one_clear_line(done, f"port {taken} is in use: pass --port or set PUSHGATE_PORT")
    assert "pushgate listening" not in done.stdout


def test_serve_on_a_taken_port_from_the_environment(tmp_path: Path, taken: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env.update(PUSHGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'pushgate.db'}", PUSHGATE_PORT=str(taken))
    done = subprocess.run([PUSHGATE, "serve"], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    _assert_one_clear_line(done, f"port {taken} is in use: pass --port or set PUSHGATE_PORT")


def test_worker_metrics_on_a_taken_port(tmp_path: Path, taken: int) -> None:
    done = _run(tmp_path, "worker", "--metrics-port", str(taken), "--drain", "1")
    _assert_one_clear_line(done, f"port {taken} is in use: pass another --metrics-port (0: any free port)")
    assert "pushgate worker running" not in done.stdout


def test_simulate_on_a_taken_port(tmp_path: Path, taken: int) -> None:
    done = _run(tmp_path, "simulate", "apns", "--port", str(taken))
    _assert_one_clear_line(done, f"port {taken} is in use: pass another --port (0: any free ports)")


def test_simulate_names_the_taken_port_of_a_later_simulator(tmp_path: Path, taken: int) -> None:
    # Each simulator takes the next port: the second one (fcm) is refused here, after apns started.
    done = _run(tmp_path, "simulate", "apns", "fcm", "--port", str(taken - 1))
    if done.returncode == 1 and f"port {taken - 1} is in use" in done.stderr:
        pytest.skip(f"port {taken - 1} is taken by another process too")
    _assert_one_clear_line(done, f"port {taken} is in use: pass another --port (0: any free ports)")


@pytest.mark.parametrize(("host", "shown"), [("::2", "[::2]"), ("192.0.2.1", "192.0.2.1")])
def test_serve_on_an_address_not_on_this_machine_names_it_readably(
    tmp_path: Path, host: str, shown: str
) -> None:
    # An IPv6 host in brackets: "::2:8000" would read as another address. Neither address is
    # configured here (::2 is unassigned, 192.0.2.0/24 is for documentation: RFC 5737).
    done = _run(tmp_path, "serve", "--host", host, "--port", "8000", "--drain", "1")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    [line] = [line for line in done.stderr.splitlines() if line.startswith("cannot listen on ")]
    assert line.startswith(f"cannot listen on {shown}:8000: "), line
    assert line.endswith(": pass --host/--port or set PUSHGATE_HOST/PUSHGATE_PORT"), line
