"""Without the ``[server]`` extra: the library works, and server commands say what to install.

Each case runs a fresh interpreter in which the extra's packages cannot be
imported (a meta-path finder refuses them the way a missing package is
refused), so a stray import of FastAPI or SQLAlchemy fails here even though
the test environment has them installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pushgate.cli import SERVER_EXTRA_MODULES

BLOCKED = ("fastapi", "sqlalchemy", "alembic", "uvicorn", "prometheus_client", "psycopg")

BLOCKER = f"""
import importlib.abc, sys

class NoServerExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NoServerExtra())
"""

LIBRARY = BLOCKER + """
import importlib, pkgutil
import pushgate
import pushgate.blocking
from pushgate import APNs, FCM, WNS, Subscription, WebPush
from pushgate.blocking import Blocking
from pushgate.simulators import apns, fcm, webpush, wns

imported = []
for package in ("transport", "crypto", "providers", "simulators"):
    root = importlib.import_module(f"pushgate.{package}")
    for found in pkgutil.walk_packages(root.__path__, f"pushgate.{package}."):
        importlib.import_module(found.name)
        imported.append(found.name)
print(len(imported), "modules")
"""

CLI = BLOCKER + """
from pushgate.cli import main
sys.argv = ["pushgate", *sys.argv[1:]]
main()
"""


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["PUSHGATE_DATABASE_URL"] = f"sqlite:///{cwd / 'pushgate.db'}"
    return subprocess.run([sys.executable, "-c", script, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_blocked_packages_are_the_server_extra() -> None:
    assert set(BLOCKED) <= SERVER_EXTRA_MODULES


def test_the_blocker_refuses_a_server_package(tmp_path: Path) -> None:
    refused = _run(BLOCKER + "import sqlalchemy", cwd=tmp_path)
    assert refused.returncode == 1
    assert "ModuleNotFoundError: No module named 'sqlalchemy'" in refused.stderr


def test_the_library_clients_and_simulators_import_without_the_server_extra(tmp_path: Path) -> None:
    done = _run(LIBRARY, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) > 40  # every module of the send path and the simulators


@pytest.mark.parametrize("command", [
    ["version"], ["--help"], ["simulate", "--help"], ["library-demo", "--help"],
])
def test_library_commands_work_without_the_server_extra(tmp_path: Path, command: list[str]) -> None:
    done = _run(CLI, *command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", [
    ["serve"], ["worker"], ["demo", "--exit"], ["migrate"], ["app", "list"], ["app", "create", "shop"],
    ["send", "--app", "shop", "--title", "Hi", "--all"],
    ["devices", "import", "devices.csv", "--app", "shop"],
])
def test_server_commands_name_the_extra_to_install(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "devices.csv").write_text("provider,token\napns,abc\n")
    done = _run(CLI, *command, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "this command needs the server extra" in done.stderr
    assert "pip install 'pushgate[server]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "pushgate.db").exists()
