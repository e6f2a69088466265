"""``pushgate serve`` and ``pushgate worker`` run on an application with only those two commands.

What they parse, print and refuse is what the full application does; the
other commands' modules stay unimported in the long-running process.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pushgate.cli import app, service_app

CASES = (
    ["serve", "--help"], ["worker", "--help"], ["serve", "--bogus"], ["serve", "extra"],
    ["worker", "--workers", "many"], ["serve", "--port", "-"],
)


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_the_service_commands_answer_as_in_the_full_application(args: list[str]) -> None:
    runner = CliRunner()
    full = runner.invoke(app, args)
    alone = runner.invoke(service_app(), args)
    assert (alone.exit_code, alone.output) == (full.exit_code, full.output)


def test_the_service_commands_load_no_other_command() -> None:
    probe = (
        "import atexit, sys;"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.startswith('pushgate.cli')),"
        " file=sys.stderr));"
        "sys.argv = ['pushgate', sys.argv[1], '--help']; from pushgate.cli import main; main()"
    )
    loaded = "['pushgate.cli', 'pushgate.cli.root', 'pushgate.cli.server_cmds']"
    for command in ("serve", "worker"):
        done = subprocess.run([sys.executable, "-c", probe, command], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().splitlines()[-1] == loaded
        assert f"pushgate {command} [OPTIONS]" in done.stdout
