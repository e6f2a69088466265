"""``pushgate serve`` and ``pushgate worker`` run on an application with only those two commands.

What they parse, print and refuse is what the full application does; the
other commands' modules stay unimported in the long-running process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    loaded = ("['pushgate.cli', 'pushgate.cli.root', 'pushgate.cli.server_cmds', 'pushgate.cli.service_args',"
              " 'pushgate.cli.service_run']")
    for command in ("serve", "worker"):
        done = subprocess.run([sys.executable, "-c", probe, command], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().splitlines()[-1] == loaded
        assert f"pushgate {command} [OPTIONS]" in done.stdout


SERVE_ONCE = """
import asyncio, json, sys
import pushgate.service.runtime as runtime

real_serve = runtime.serve

async def serve_until_listening(settings, create_app, **options):
    stop = asyncio.Event()
    options.update(stop=stop, on_listening=lambda url: stop.set(), handle_signals=False)
    await real_serve(settings, create_app, **options)
    print(json.dumps(sorted({m.partition(".")[0] for m in sys.modules} & {"typer", "rich"})))

runtime.serve = serve_until_listening
sys.argv = ["pushgate", "serve", "--host", "127.0.0.1", "--port", "0", "--drain", "1"]
from pushgate.cli import main
main()
"""


def test_a_running_server_never_loaded_typer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["PUSHGATE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'pushgate.db'}"
    done = subprocess.run([sys.executable, "-c", SERVE_ONCE], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("pushgate listening on http://127.0.0.1:")
    assert json.loads(lines[-1]) == []
