"""Every ``pushgate`` command, on one application (``pushgate.cli.app``)."""

from __future__ import annotations

import typer

from pushgate.cli.admin import register as register_admin_commands
from pushgate.cli.admin_users import admin_user_commands
from pushgate.cli.library_demo import library_demo
from pushgate.cli.messages_cmd import messages_commands
from pushgate.cli.pushkin_cmd import pushkin_commands
from pushgate.cli.root import new_app
from pushgate.cli.server_cmds import register as register_server_commands
from pushgate.cli.simulate import simulate
from pushgate.cli.vapid_cmd import register as register_vapid_commands

app = new_app()
app.command("simulate")(simulate)
app.command("library-demo")(library_demo)
register_server_commands(app)
register_admin_commands(app)
app.add_typer(admin_user_commands, name="admin")
register_vapid_commands(app)
app.add_typer(messages_commands, name="messages")
app.add_typer(pushkin_commands, name="pushkin")


@app.command("version")
def version() -> None:
    """Print the pushgate version."""
    from pushgate import __version__

    typer.echo(__version__)


__all__ = ["app"]
