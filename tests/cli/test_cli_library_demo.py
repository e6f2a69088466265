"""`pushgate library-demo` and `pushgate simulate` from the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from pushgate.cli import app


def test_library_demo_sends_through_all_four_providers() -> None:
    result = CliRunner().invoke(app, ["library-demo", "--devices", "20", "--dead", "2"])
    assert result.exit_code == 0, result.output
    for provider in ("APNs", "FCM", "Web Push", "WNS"):
        row = next(line for line in result.output.splitlines() if line.startswith(f"│ {provider}"))
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        assert cells[1:5] == ["18", "2", "0", "0"], row


def test_library_demo_rejects_more_dead_than_devices() -> None:
    result = CliRunner().invoke(app, ["library-demo", "--devices", "2", "--dead", "3"])
    assert result.exit_code != 0
    assert "--dead" in result.output


def test_simulate_rejects_an_unknown_provider() -> None:
    result = CliRunner().invoke(app, ["simulate", "hms"])
    assert result.exit_code != 0
    assert "unknown provider" in result.output
