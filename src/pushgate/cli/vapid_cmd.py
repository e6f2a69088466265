"""``pushgate vapid generate`` and ``pushgate websdk …``: the keys and settings of Web Push in the browser.

- ``vapid generate`` makes a VAPID key pair (P-256, RFC 8292) and prints
  the public key (the browser's ``applicationServerKey``) and the private
  key as base64url; with ``--app`` it stores the pair as the app's Web Push
  credentials instead of printing the private key (``--subject`` is the
  contact push services see: ``mailto:`` or ``https:``).
- ``websdk setup`` gives an app its public id and allowed origins (and
  whether a uid needs its signature); the secret is printed once, when it
  is created or ``--rotate-secret`` replaces it.
- ``websdk user-token`` mints a user token with the app's secret, as the
  app's backend does with :func:`pushgate.user_token.mint_user_token`
  (for trying the device routes by hand).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pushgate.cli.admin import AppOption, _app, _database, _fail
from pushgate.cli.server_cmds import ConfigOption, load_settings

vapid_commands = typer.Typer(help="VAPID keys for Web Push.", no_args_is_help=True)
websdk_commands = typer.Typer(help="The Web SDK: public id, allowed origins, secret.", no_args_is_help=True)


@vapid_commands.command("generate")
def generate(
    app: Annotated[str | None, typer.Option("--app", "-a", help="Store the pair as this app's Web Push "
                                            "credentials (id or name)")] = None,
    subject: Annotated[str, typer.Option(help="Contact for push services (mailto: or https:)")] = (
        "mailto:ops@example.com"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    config: ConfigOption = None,
) -> None:
    """Generate a VAPID key pair (and store it for an app with --app)."""
    from pushgate.crypto.vapid import VapidKey, validate_subject
    from pushgate.errors import ConfigurationError

    try:
        validate_subject(subject)
    except ConfigurationError as exc:
        raise _fail(f"--subject: {exc}") from None
    key = VapidKey.generate()
    shown: dict[str, str] = {"public_key": key.application_server_key, "subject": subject}
    if app is None:
        shown["private_key"] = key.private_raw()
    else:
        _store(app, key.private_raw(), subject, config)
        shown["stored_for_app"] = app
    if as_json:
        typer.echo(json.dumps(shown, indent=2))
        return
    for name, value in shown.items():
        typer.echo(f"{name}: {value}")


def _store(reference: str, private_key: str, subject: str, config: Path | None) -> None:
    from pushgate.registry import CredentialCipher, get_stored_credentials, set_credentials

    settings = load_settings(config)
    with _database(settings) as db:
        target = _app(db, reference)
        with db.session() as session:
            replaced = get_stored_credentials(session, target.id, "webpush") is not None
            set_credentials(session, target.id, "webpush",
                            {"vapid_private_key": private_key, "vapid_subject": subject},
                            cipher=CredentialCipher.from_settings(settings))
    if replaced:
        # Push services bind a subscription to the key it was made with (RFC 8292 §4).
        typer.secho("warning: this replaces the app's VAPID key; subscriptions made with the old one are "
                    "refused by push services until each browser's SDK subscribes again "
                    "(docs/websdk.md §2)", err=True, fg=typer.colors.YELLOW)


@websdk_commands.command("setup")
def setup(
    app: AppOption,
    origins: Annotated[list[str] | None, typer.Option(
        "--origin", help="An allowed origin, https://host[:port] (repeatable; replaces the list)")] = None,
    require_signature: Annotated[bool | None, typer.Option(
        "--require-signature/--no-require-signature", help="Refuse a uid without its signature")] = None,
    rotate_secret: Annotated[bool, typer.Option(help="Replace the secret")] = False,
    config: ConfigOption = None,
) -> None:
    """Set up (or change) the app's Web SDK: public id, allowed origins, secret."""
    from pushgate.registry import CredentialCipher, ValidationError
    from pushgate.registry.websdk import configure_web_sdk

    settings = load_settings(config)
    with _database(settings) as db:
        target = _app(db, app)
        try:
            with db.session() as session:
                row, secret = configure_web_sdk(
                    session, target.id, CredentialCipher.from_settings(settings), allowed_origins=origins,
                    require_uid_signature=require_signature, rotate_secret=rotate_secret,
                )
                shown = {"public_id": row.public_id, "allowed_origins": row.allowed_origins,
                         "require_uid_signature": row.require_uid_signature}
        except ValidationError as exc:
            raise _fail(f"{exc.field}: {exc.message}") from None
    if secret is not None:
        shown["secret"] = secret
    typer.echo(json.dumps(shown, indent=2))
    if secret is not None:
        typer.echo("Keep the secret on your backend: it is not shown again.", err=True)


@websdk_commands.command("user-token")
def user_token(
    app: AppOption,
    user: Annotated[str, typer.Option(help="The app's user id")],
    ttl: Annotated[int, typer.Option(help="Seconds the token lives")] = 3600,
    config: ConfigOption = None,
) -> None:
    """Mint a user token for the device routes (what the app's backend does)."""
    from pushgate.registry import CredentialCipher
    from pushgate.registry.websdk import get_web_sdk, sdk_secret
    from pushgate.user_token import mint_user_token

    settings = load_settings(config)
    with _database(settings) as db:
        target = _app(db, app)
        with db.session(write=False) as session:
            row = get_web_sdk(session, target.id)
            if row is None:
                raise _fail(f"app {target.name} has no Web SDK settings: pushgate websdk setup --app {app}")
            secret, public_id = sdk_secret(row, CredentialCipher.from_settings(settings)), row.public_id
    try:
        typer.echo(mint_user_token(secret, public_id, user, ttl=ttl))
    except ValueError as exc:
        raise _fail(str(exc)) from None


def register(app: typer.Typer) -> None:
    app.add_typer(vapid_commands, name="vapid")
    app.add_typer(websdk_commands, name="websdk")


__all__ = ["register"]
