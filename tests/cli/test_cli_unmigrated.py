"""PostgreSQL before `pushgate migrate`: every command says so and stops.

No traceback from `app create`, no `serve` looping on a missing table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pushgate.cli import app as cli

pytestmark = pytest.mark.postgres


@pytest.fixture
def unmigrated(postgres_databases: Callable[[], str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["PUSHGATE_DATABASE_URL"] = postgres_databases()
    return env


@pytest.mark.parametrize("args", [["app", "create", "shop"], ["app", "list"]])
def test_admin_commands_say_run_migrate(unmigrated: dict[str, str], args: list[str]) -> None:
    result = CliRunner().invoke(cli, args, env=unmigrated)
    assert result.exit_code == 1, result.output
    assert "run `pushgate migrate`" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_stop_with_run_migrate(unmigrated: dict[str, str], command: str) -> None:
    script = Path(sys.executable).with_name("pushgate")
    done = subprocess.run([str(script), command, "--drain", "1"], env=unmigrated, capture_output=True,
                          text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "run `pushgate migrate`" in output
    assert "Traceback" not in output
