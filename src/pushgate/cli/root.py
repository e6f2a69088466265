"""The ``pushgate`` Typer application itself: its name, help and ``--version``, no commands yet.

:mod:`pushgate.cli.commands` adds every command to one; ``pushgate serve``
and ``pushgate worker`` run on one with only those two (see :func:`pushgate.cli.main`).
"""

from __future__ import annotations

from typing import Annotated

import typer


def _print_version(value: bool) -> None:
    if value:
        from pushgate import __version__

        typer.echo(__version__)
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    """pushgate: send, serve and simulate push notifications."""


def new_app() -> typer.Typer:
    """The application with its root options and no command."""
    app = typer.Typer(
        name="pushgate",
        help="Self-hosted push notifications: APNs, FCM, Web Push and WNS.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )
    app.callback()(_root)
    return app


__all__ = ["new_app"]
