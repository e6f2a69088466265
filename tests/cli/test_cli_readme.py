"""Every code block in the top-level README runs as written.

The convention, by the block's info string:

- ```` ```python ````: a complete script. It is run with this interpreter in
  a subprocess whose working directory holds ``sims.json``, the file
  ``pushgate simulate --credentials-file sims.json`` writes, with those
  simulators running (the README tells readers to start them the same way).
  No prelude is added: what the reader copies is what runs.
- ```` ```sh ````: run with ``bash -euo pipefail`` in the same directory,
  with the ``pushgate`` of this environment first on ``PATH``.
- ```` ```sh no-run ````: shown, not run — commands that install, start a
  long-running service (``serve``, ``simulate``, ``demo``), need a
  PostgreSQL server or a running API, or run this suite itself.
- any other language (``json``, ``toml``, ``html``, ``js``): data, not run.

A block with no info string fails the test: each block says what it is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str, int]]:
    """(info string, code, line number) for every fenced block."""
    text = README.read_text()
    return [
        (match.group(1).strip(), match.group(2), text.count("\n", 0, match.start()) + 1)
        for match in FENCE.finditer(text)
    ]


def _of(kind: str) -> list[tuple[str, int]]:
    return [(code, line) for info, code, line in blocks() if info == kind]


@pytest.fixture(scope="module")
def simulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``pushgate simulate --credentials-file sims.json`` running in a fresh folder."""
    folder = tmp_path_factory.mktemp("readme")
    sims = folder / "sims.json"
    log = folder / "simulate.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "pushgate"), "simulate", "--credentials-file", str(sims)],
            cwd=folder, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not (sims.exists() and _complete(sims)):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pushgate simulate did not start: {log.read_text()}")
            time.sleep(0.1)
        yield folder
    finally:
        process.terminate()
        process.wait(timeout=30)


def _complete(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except ValueError:
        return False  # still being written
    return True


def test_every_block_says_what_it_is() -> None:
    known = {"python", "sh", "sh no-run", "json", "toml", "html", "js"}
    assert blocks(), "no code blocks found"
    for info, _, line in blocks():
        assert info in known, f"README.md:{line}: info string {info!r} is not one of {sorted(known)}"


def test_the_library_quick_start_is_there_to_run() -> None:
    codes = [code for code, _ in _of("python")]
    assert any("async with APNs(" in code and "asyncio.run(" in code for code in codes)
    assert any("Blocking(" in code for code in codes)


@pytest.mark.parametrize(("code", "line"), _of("python"), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_python_block_runs_against_the_simulators(simulators: Path, code: str, line: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=simulators, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize(("code", "line"), _of("sh"), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_sh_block_runs(simulators: Path, code: str, line: int) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code], cwd=simulators, capture_output=True, text=True,
        timeout=120, env=env,
    )
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout}\n{done.stderr}"
