"""``pushgate app delete``, ``keys``, ``key-create``, ``key-revoke``,
``credentials-list`` and ``credentials-delete``.

What the admin API offers under ``/v1/apps``, for an operator at a shell:
rotate a key by creating a new one, moving clients to it, then revoking
the old one by its prefix (the part after ``pg_`` that lists show; ``pg_<prefix>``
and the whole key are taken too).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pushgate.cli.admin import _app, _database, _fail, _warn_unreadable, app_commands
from pushgate.cli.server_cmds import ConfigOption, load_settings

AppArgument = Annotated[str, typer.Argument(help="The app's id or name")]


@app_commands.command("delete")
def delete_app(
    app: AppArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete it and everything it owns")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete an app with its keys, credentials, users, devices, sends and deliveries."""
    from pushgate.registry import delete_app as delete

    if not yes:
        raise _fail("this deletes the app and all its data; add --yes to do it", 2)
    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session() as session:
            delete(session, target.id)
    typer.echo(f"Deleted app {target.id} ({target.name}).")


@app_commands.command("keys")
def list_keys(app: AppArgument, config: ConfigOption = None) -> None:
    """The app's API keys: prefix, name, created, revoked (never the key)."""
    from rich.console import Console
    from rich.table import Table

    from pushgate.registry import list_api_keys

    table = Table("prefix", "name", "created", "revoked")
    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session(write=False) as session:
            for key in list_api_keys(session, target.id):
                revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-"
                table.add_row(key.prefix, key.name or "-", f"{key.created_at:%Y-%m-%d %H:%M}", revoked)
    Console().print(table)


@app_commands.command("key-create")
def create_key(
    app: AppArgument,
    name: Annotated[str | None, typer.Option(help="A label, e.g. where it is used")] = None,
    config: ConfigOption = None,
) -> None:
    """Create another API key (to rotate: create, move clients, revoke the old one)."""
    from pushgate.registry import create_api_key

    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session() as session:
            _, plaintext = create_api_key(session, target.id, name=name)
    typer.secho("API key — shown this once, store it now:", fg=typer.colors.YELLOW, err=True)
    typer.echo(plaintext)


@app_commands.command("key-revoke")
def revoke_key(
    app: AppArgument,
    key: Annotated[str, typer.Argument(
        help="The key's prefix as `pushgate app keys` lists it, with or without pg_, or the whole key"
    )],
    config: ConfigOption = None,
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    from pushgate.registry import authenticate_key, list_api_keys, revoke_api_key

    prefix, whole = _key_reference(key)
    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session() as session:
            matches = [k for k in list_api_keys(session, target.id) if k.prefix == prefix]
            if whole:  # the whole key: only the key it is, not another with the same prefix
                found = authenticate_key(session, whole)
                matches = matches if found is not None and found.app_id == target.id else []
            if not matches or not revoke_api_key(session, target.id, matches[0].id):
                # Only the prefix is named: the argument may be the whole key, a secret.
                suffix = " matching the key given" if whole else ""
                raise _fail(f"no active key with prefix {prefix!r} for app {target.name}{suffix}")
    typer.echo(f"Revoked key {prefix} of app {target.name}.")


def _key_reference(given: str) -> tuple[str, str]:
    """(prefix, whole key or "") from ``mozfygt8``, ``pg_mozfygt8`` or ``pg_mozfygt8_<secret>``.

    Keys are printed whole and listed by their bare prefix; people copy either, or the
    prefix as it begins the key, so all three name the key.
    """
    from pushgate.registry.constants import API_KEY_SCHEME

    prefix, _, secret = given.strip().removeprefix(f"{API_KEY_SCHEME}_").partition("_")
    return prefix, f"{API_KEY_SCHEME}_{prefix}_{secret}" if secret else ""


@app_commands.command("credentials-list")
def list_credentials(app: AppArgument, config: ConfigOption = None) -> None:
    """The app's stored provider credentials, secrets redacted.

    Credentials this secret_key cannot decrypt are listed too, followed by a
    warning on stderr: their secrets show as *** like any others, yet every
    send with them fails.
    """
    from pushgate.registry import CredentialCipher
    from pushgate.registry import list_credentials as stored

    settings = load_settings(config)
    cipher = CredentialCipher.from_settings(settings)
    unreadable: list[tuple[str, Exception]] = []
    with _database(settings) as db:
        target = _app(db, app)
        with db.session(write=False) as session:
            rows = stored(session, target.id)
            shown = {row.provider: row.redacted() for row in rows}
            for row in rows:  # opened as the workers open them, so the warning is the error they meet
                problem = cipher.unreadable(row.app_id, row.provider, row.config)
                if problem is not None:
                    unreadable.append((row.provider, problem))
    typer.echo(json.dumps(shown, indent=2, default=str))
    for provider, error in unreadable:
        _warn_unreadable(target.name, provider, error)


@app_commands.command("credentials-delete")
def delete_credentials(
    app: AppArgument,
    provider: Annotated[str, typer.Argument(help="apns, fcm, webpush or wns")],
    config: ConfigOption = None,
) -> None:
    """Forget the app's credentials for one provider (its sends there then fail as config)."""
    from pushgate.registry import delete_credentials as delete

    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session() as session:
            if not delete(session, target.id, provider):
                raise _fail(f"app {target.name} has no {provider} credentials")
    typer.echo(f"Deleted the {provider} credentials of app {target.name}.")
