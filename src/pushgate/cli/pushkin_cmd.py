"""``pushgate pushkin show|languages|route-secret``: an app's Pushkin settings at a shell (docs/pushkin.md).

The same settings as ``/v1/pushkin``: the languageId → locale table the
login events go through, and the route secret that lets clients without
headers post to ``<pushkin_prefix>/app/<secret>/post_notification_json``
(shown once; only its hash is stored).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pushgate.cli.admin import AppOption, _app, _database, _fail
from pushgate.cli.server_cmds import ConfigOption, load_settings

pushkin_commands = typer.Typer(help="The app's Pushkin compatibility settings (docs/pushkin.md).",
                               no_args_is_help=True)


@pushkin_commands.command("show")
def show(app: AppOption, config: ConfigOption = None) -> None:
    """The language table and whether a route secret is set, as JSON."""
    from pushgate.registry.pushkin_apps import get_pushkin_settings

    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session(write=False) as session:
            found = get_pushkin_settings(session, target.id)
    typer.echo(json.dumps({"languages": found.languages, "has_route_secret": found.has_route_secret}))


@pushkin_commands.command("languages")
def languages(
    pairs: Annotated[list[str], typer.Argument(help="ID=LOCALE pairs, e.g. 1=en 2=de (replaces the table)")],
    app: AppOption,
    config: ConfigOption = None,
) -> None:
    """Replace the app's languageId → locale table."""
    from pushgate.registry import ValidationError
    from pushgate.registry.pushkin_apps import set_languages

    table: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise _fail(f"{pair!r}: give ID=LOCALE, e.g. 1=en")
        table[key] = value
    with _database(load_settings(config)) as db:
        target = _app(db, app)
        try:
            with db.session() as session:
                stored = set_languages(session, target.id, table)
        except ValidationError as exc:
            raise _fail(f"{exc.field}: {exc.message}") from None
    typer.echo(json.dumps(stored.languages))


@pushkin_commands.command("route-secret")
def route_secret(
    app: AppOption,
    config: ConfigOption = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="Remove the secret instead")] = False,
) -> None:
    """Make (or replace) the app's route secret and print its path once; or revoke it."""
    from pushgate.registry.pushkin_apps import create_route_secret, revoke_route_secret
    from pushgate.server.routes.pushkin import SECRET_SEGMENT

    settings = load_settings(config)
    with _database(settings) as db:
        target = _app(db, app)
        with db.session() as session:
            if revoke:
                if not revoke_route_secret(session, target.id):
                    raise _fail(f"app {target.name!r} has no Pushkin route secret")
                typer.echo("revoked")
                return
            secret = create_route_secret(session, target.id)
    typer.echo(f"{settings.pushkin_prefix}/{SECRET_SEGMENT}/{secret}")
