"""`pushgate --version` prints the version and exits, like `pushgate version`."""

from __future__ import annotations

from typer.testing import CliRunner

from pushgate import __version__
from pushgate.cli import app


def test_dash_dash_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == __version__
