"""A mistake in the configuration is one line saying what to fix, never a traceback."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from pushgate.cli import app as cli


def env(**settings: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    return {**clean, **{f"PUSHGATE_{k.upper()}": v for k, v in settings.items()}}


@pytest.mark.parametrize("command", ["serve", "worker"])
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
