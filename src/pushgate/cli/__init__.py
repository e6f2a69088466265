"""The ``pushgate`` command line (typer + rich).

``simulate``, ``library-demo`` and ``version`` work with the library alone;
the server commands (``serve``, ``worker``, ``demo``, ``migrate``, ``app``,
``send``, ``devices``) import the ``[server]`` extra when they run, and say
so when it is missing.

``pushgate serve`` and ``pushgate worker`` run on an application with those
two commands only: the other commands' modules and Typer's conversion of
all of them would otherwise stay in a long-running server's memory (about
0.5 MB, bench scenario 6). Their parsing, help and errors are those of the
full application (``app``, :mod:`pushgate.cli.commands`), which every other
invocation uses. A command line they run with does not load Typer at all: it
is read with click (:mod:`pushgate.cli.service_args`), and Typer answers only
``--help`` and usage errors.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from pushgate._lazy import lazy_getattr

if TYPE_CHECKING:
    import typer

    from pushgate.cli.commands import app

# The commands that run as long-lived services (pushgate.cli.server_cmds).
SERVICE_COMMANDS = ("serve", "worker")

# Top-level modules the [server] extra installs (and starlette, which FastAPI brings).
SERVER_EXTRA_MODULES = frozenset(
    {"alembic", "click", "fastapi", "prometheus_client", "psycopg", "sqlalchemy", "starlette", "uvicorn"}
)


def service_app() -> typer.Typer:
    """The application ``pushgate serve`` and ``pushgate worker`` run on: the root and those commands."""
    from pushgate.cli.root import new_app
    from pushgate.cli.server_cmds import serve, worker

    app = new_app()
    app.command("serve")(serve)
    app.command("worker")(worker)
    return app


def main() -> None:
    try:
        if sys.argv[1:2] and sys.argv[1] in SERVICE_COMMANDS:
            from pushgate.cli import service_args

            if not service_args.run(sys.argv[1], sys.argv[2:]):  # Typer only for help and errors
                service_app()()
        else:
            from pushgate.cli.commands import app

            app()
    except ImportError as exc:
        # Only the extra's own packages: any other ImportError is a bug and keeps its traceback.
        missing = (exc.name or "").partition(".")[0]
        if missing not in SERVER_EXTRA_MODULES:
            raise
        import typer

        typer.secho(f"error: this command needs the server extra ({missing} is not installed): "
                    "pip install 'pushgate[server]'", err=True, fg=typer.colors.RED)
        raise SystemExit(1) from None


# ``app``, every command, is imported on first use (see the module docstring).
__getattr__ = lazy_getattr(__name__, {"app": "pushgate.cli.commands"}, globals())


__all__ = ["SERVER_EXTRA_MODULES", "SERVICE_COMMANDS", "app", "main", "service_app"]
