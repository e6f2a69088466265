"""A mistake in the configuration is one line saying what to fix, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pushgate.cli import app as cli


def env(**settings: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    return {**clean, **{f"PUSHGATE_{k.upper()}": v for k, v in settings.items()}}


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_an_unsupported_database_url_is_a_configuration_error(command: str) -> None:
    result = CliRunner().invoke(cli, [command], env=env(database_url="mysql://db/x"))
    assert result.exit_code == 2, result.output
    assert "configuration error: unsupported database 'mysql': use sqlite or postgresql" in result.output
    assert isinstance(result.exception, SystemExit), result.exception


def test_a_misspelt_setting_names_the_one_meant(tmp_path: object) -> None:
    result = CliRunner().invoke(cli, ["serve"], env=env(workres="2"))
    assert result.exit_code == 2, result.output
    assert "workres: unknown setting (PUSHGATE_WORKRES); did you mean 'workers'?" in result.output
    nested = CliRunner().invoke(cli, ["serve"], env=env(providers__apns__base_ur="https://x"))
    assert nested.exit_code == 2, nested.output
    assert ("providers.apns.base_ur: unknown setting (PUSHGATE_PROVIDERS__APNS__BASE_UR); "
            "did you mean 'base_url'?") in nested.output


def _lean(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``pushgate serve``/``worker`` as the script runs them: options read without Typer."""
    return subprocess.run([sys.executable, "-c", "from pushgate.cli import main; main()", *args], env=environ,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("args", "line"), [
    (["serve", "--port", "70000"], "configuration error: --port: must be at most 65535"),
    (["serve", "--workers", "-1"], "configuration error: --workers: must be at least 0"),
])
def test_a_bad_option_value_names_the_option(tmp_path: Path, args: list[str], line: str) -> None:
    environ = env(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    lean = _lean(args, environ)
    assert (lean.returncode, lean.stderr) == (2, line + "\n")
    typer_path = CliRunner().invoke(cli, args, env=environ)
    assert (typer_path.exit_code, typer_path.output) == (2, line + "\n")


def test_a_bad_value_from_the_environment_says_what_is_allowed(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve"], env=env(port="70000"))
    assert result.exit_code == 2, result.output
    assert result.output == "configuration error: port: must be at most 65535\n"


def test_the_redis_queue_without_its_url_names_the_setting() -> None:
    result = CliRunner().invoke(cli, ["serve"], env=env(queue="redis"))
    assert result.exit_code == 2, result.output
    assert result.output == ('configuration error: queue: "redis" needs redis_url: '
                             "set PUSHGATE_REDIS_URL=redis://host:6379/0\n")


def test_a_list_setting_from_the_environment_says_it_takes_json() -> None:
    variable = "PUSHGATE_PROVIDERS__WEBPUSH__ALLOWED_HOSTS"
    result = CliRunner().invoke(cli, ["serve"], env={**env(), variable: "push.example.net, b.example"})
    assert result.exit_code == 2, result.output
    assert result.output == (f"configuration error: providers.webpush.allowed_hosts: "
                             f"{variable} takes a JSON list, e.g. "
                             f"""{variable}='["push.example.net", "b.example"]'\n""")


@pytest.mark.parametrize("args", [["serve"], ["worker"], ["migrate"], ["app", "list"]], ids=" ".join)
def test_a_database_path_without_a_scheme_suggests_the_sqlite_url(tmp_path: Path, args: list[str]) -> None:
    environ = env(database_url="pushgate.db")
    expected = ("configuration error: database_url: 'pushgate.db' is not a database "
                "URL: for a SQLite file write sqlite:///pushgate.db\n")
    done = _lean(args, environ)
    assert (done.returncode, done.stdout + done.stderr) == (2, expected)
