"""The ``pushgate`` command line (typer + rich)."""

from __future__ import annotations

import typer

from pushgate.cli.admin import register as register_admin_commands
from pushgate.cli.library_demo import library_demo
from pushgate.cli.server_cmds import register as register_server_commands
from pushgate.cli.simulate import simulate

app = typer.Typer(
    name="pushgate",
    help="Self-hosted push notifications: APNs, FCM, Web Push and WNS.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("simulate")(simulate)
app.command("library-demo")(library_demo)
register_server_commands(app)
register_admin_commands(app)


@app.callback()
def _root() -> None:
    """pushgate: send, serve and simulate push notifications."""


@app.command("version")
def version() -> None:
    """Print the pushgate version."""
    from pushgate import __version__

    typer.echo(__version__)


def main() -> None:
    app()


__all__ = ["app", "main"]
