"""``pushgate serve`` and ``pushgate worker`` read their options without Typer (cli/service_args.py).

The command lines they run with must give the service the values the Typer
commands would give it, and every other command line (help, unknown options,
values that do not convert) must be left to Typer, which answers as the full
application does.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from pushgate.cli import server_cmds, service_args
from pushgate.cli.root import new_app

RUNS = [
    [], ["--port", "0"], ["--port=8080"], ["--host", "::1", "--port", "-1"], ["--workers", "0"],
    ["--drain", "1.5"], ["--drain=7"], ["-c", "pushgate.toml"], ["-cother.toml"], ["--config", "a b.toml"],
    ["--port", "1", "--port", "2"], ["--workers", "3", "--drain", "0", "--host", "0.0.0.0"],
    ["--port", " 7 "], ["--port", "+5"], ["--port", "1_000"], ["--drain", "1e3"], ["--drain", "inf"],
    ["--drain", "nan"], ["--drain", " 2.5"], ["--port", "1.0"], ["--host", ""], ["--"],
]
WORKER_RUNS = [
    [], ["-n", "4"], ["--workers", "2"], ["--workers=2", "--metrics-port", "0"], ["--metrics-port=9100"],
    ["-c", "x.toml", "--drain", "3"], ["-n", "1_0"], ["-n", " 3"],
]
TYPER_ONLY = [
    ["--help"], ["--bogus"], ["extra"], ["--port", "-"], ["--port", "x"], ["--port"], ["--port", "1.5"],
    ["--drain", "soon"], ["-h"], ["--por", "1"], ["--workers", ""], ["--port", "0x10"], ["--port", ""],
    ["--port", "\u0663"], ["--drain", "1,5"], ["--host"], ["-c"],
]
# Whatever Typer makes of these, the lean path either runs with the same values or leaves them to it.
EDGES = [
    ["--config", ""], ["--host", " "], ["--drain", "-1"], ["--workers", "-3"], ["--port", "9" * 30],
    ["--drain", "1" * 400], ["--port", "0b11"], ["--port", "\uff11\uff12"], ["--drain", "Infinity"],
    ["--port", "True"], ["--workers", "1e2"], ["--config", "-"], ["-c", "--port"], ["--port=", "1"],
]
WORKER_TYPER_ONLY = [["--help"], ["--workers", "many"], ["-n"], ["--metrics-port", "x"], ["--port", "1"],
                     ["--workers", "0"], ["-n", "-1"]]  # a worker process runs one worker loop or more


def _typer_values(command: str, args: list[str]) -> dict[str, Any] | None:
    """What the Typer command passes to its function for ``args`` (None: it did not call it)."""
    seen: dict[str, Any] = {}
    real: Callable[..., None] = getattr(server_cmds, command)

    @functools.wraps(real)
    def record(**values: Any) -> None:
        seen.update(values)

    app = new_app()
    app.command(command)(record)
    result = CliRunner().invoke(app, [command, *args])
    return seen if result.exit_code == 0 and seen else None


def _lean_values(command: str, args: list[str]) -> dict[str, Any] | None:
    start = service_args.parse(command, args)
    if start is None:
        return None
    assert isinstance(start, functools.partial)
    names = {"run_serve": ("config", "host", "port", "workers", "drain"),
             "run_worker": ("config", "count", "drain", "metrics_port")}[start.func.__name__]
    assert set(start.keywords) == set(names)
    return dict(start.keywords)


def _same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Equal values (a NaN equal to a NaN)."""
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)


@pytest.mark.parametrize("args", RUNS, ids=" ".join)
def test_serve_runs_with_the_values_typer_would_give(args: list[str]) -> None:
    typer_values = _typer_values("serve", args)
    assert typer_values is not None
    assert _same(_lean_values("serve", args), typer_values)


@pytest.mark.parametrize("args", WORKER_RUNS, ids=" ".join)
def test_worker_runs_with_the_values_typer_would_give(args: list[str]) -> None:
    typer_values = _typer_values("worker", args)
    assert typer_values is not None
    assert _same(_lean_values("worker", args), typer_values)


@pytest.mark.parametrize("args", EDGES, ids=" ".join)
def test_the_lean_path_never_runs_what_typer_would_not(args: list[str]) -> None:
    lean = _lean_values("serve", args)
    assert lean is None or _same(lean, _typer_values("serve", args))


@pytest.mark.parametrize(("command", "args"), [("serve", a) for a in TYPER_ONLY]
                         + [("worker", a) for a in WORKER_TYPER_ONLY], ids=str)
def test_help_and_usage_errors_are_left_to_typer(command: str, args: list[str]) -> None:
    assert _typer_values(command, args) is None
    assert service_args.parse(command, args) is None


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_refused_setting_without_typer_reads_as_with_it(command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["PUSHGATE_DATABASE_URL"] = "mysql://db/x"
    done = subprocess.run([sys.executable, "-c", "from pushgate.cli import main; main()", command], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == "configuration error: unsupported database 'mysql': use sqlite or postgresql\n"
    typer_path = CliRunner().invoke(new_app_with(command), [command], env=env)
    assert (typer_path.exit_code, typer_path.output) == (2, done.stderr)


def new_app_with(command: str) -> Any:
    app = new_app()
    app.command(command)(getattr(server_cmds, command))
    return app

