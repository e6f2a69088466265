"""The ``pushgate`` command line (typer + rich).

``simulate``, ``library-demo`` and ``version`` work with the library alone;
the server commands (``serve``, ``worker``, ``demo``, ``migrate``, ``app``,
``send``, ``devices``) import the ``[server]`` extra when they run, and say
so when it is missing.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pushgate.cli.admin import register as register_admin_commands
from pushgate.cli.admin_users import admin_user_commands
from pushgate.cli.library_demo import library_demo
from pushgate.cli.messages_cmd import messages_commands
from pushgate.cli.pushkin_cmd import pushkin_commands
from pushgate.cli.server_cmds import register as register_server_commands
from pushgate.cli.simulate import simulate
from pushgate.cli.vapid_cmd import register as register_vapid_commands

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
app.add_typer(admin_user_commands, name="admin")
register_vapid_commands(app)
app.add_typer(messages_commands, name="messages")
app.add_typer(pushkin_commands, name="pushkin")


def _print_version(value: bool) -> None:
    if value:
        from pushgate import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    """pushgate: send, serve and simulate push notifications."""


@app.command("version")
def version() -> None:
    """Print the pushgate version."""
    from pushgate import __version__

    typer.echo(__version__)


# Top-level modules the [server] extra installs (and starlette, which FastAPI brings).
SERVER_EXTRA_MODULES = frozenset(
    {"alembic", "fastapi", "prometheus_client", "psycopg", "sqlalchemy", "starlette", "uvicorn"}
)


def main() -> None:
    try:
        app()
    except ImportError as exc:
        # Only the extra's own packages: any other ImportError is a bug and keeps its traceback.
        missing = (exc.name or "").partition(".")[0]
        if missing not in SERVER_EXTRA_MODULES:
            raise
        typer.secho(f"error: this command needs the server extra ({missing} is not installed): "
                    "pip install 'pushgate[server]'", err=True, fg=typer.colors.RED)
        raise SystemExit(1) from None


__all__ = ["SERVER_EXTRA_MODULES", "app", "main"]
