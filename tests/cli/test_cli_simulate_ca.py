"""``pushgate simulate``: each run writes its CA certificate where no other run writes its own.

Two runs on one machine (a credentials file for the library, a second
simulator for a test) must not overwrite each other's CA: a client of the
first run, or a server configured with its ``ca_file``, would no longer trust
the first run's certificates. Each run is the ``pushgate`` script in a
subprocess, with the temporary directory inside the test's own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

PUSHGATE = str(Path(sys.executable).with_name("pushgate"))
READY = "Press Ctrl-C to stop."


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    return {**env, "TMPDIR": str(temp), "COLUMNS": "400"}  # wide: rich wraps nothing


@pytest.fixture
def runs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _start(runs: list[subprocess.Popen[str]], environ: dict[str, str], cwd: Path,
           *args: str) -> list[str]:
    """Start ``pushgate simulate args`` and return what it printed up to its "Press Ctrl-C" line."""
    process = subprocess.Popen([PUSHGATE, "simulate", *args], cwd=cwd, env=environ, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    runs.append(process)
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:  # ends at EOF if the run exits
        lines.append(line.rstrip("\n"))
        if line.strip() == READY:
            return lines
    pytest.fail("pushgate simulate did not start:\n" + "\n".join(lines))


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)  # Ctrl-C
    process.communicate(timeout=60)


def _health(url: str, ca_file: str) -> dict[str, str]:
    context = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(url + "/__control/health", context=context, timeout=30) as answer:
        health: dict[str, str] = json.load(answer)
    return health


def _ca_line(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("CA certificate: ")).split()[2]


def test_a_second_run_leaves_the_first_runs_ca_alone(tmp_path: Path, environ: dict[str, str],
                                                     runs: list[subprocess.Popen[str]]) -> None:
    first = _start(runs, environ, tmp_path, "apns", "--credentials-file", "sims.json")
    sims = json.loads((tmp_path / "sims.json").read_text())
    first_ca = sims["ca_file"]
    assert _ca_line(first) == first_ca
    assert Path(first_ca) == tmp_path / "sims-ca.pem"  # next to the credentials it goes with
    first_url = sims["simulators"]["apns"]["url"]

    second = _start(runs, environ, tmp_path, "apns")  # no credentials file: a CA file of its own
    second_ca = _ca_line(second)
    assert second_ca != first_ca
    assert Path(second_ca).parent == tmp_path / "tmp"

    assert _health(first_url, first_ca)["name"] == "apns"  # the first run's clients still trust it
    second_url = next(re.findall(r"https://[^\s/]+", line)[0] for line in second if "/__control/" in line)
    assert _health(second_url, second_ca)["name"] == "apns"
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        _health(first_url, second_ca)

    _stop(runs[1])
    assert not Path(second_ca).exists()  # a throwaway CA of the temporary directory goes with its run
    assert _health(first_url, first_ca)["name"] == "apns"
    _stop(runs[0])
    assert Path(first_ca).exists()  # kept, as the credentials file is
