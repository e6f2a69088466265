"""``pushgate admin …``: the admin UI's users, their passwords and the apps they may see.

Run on the server, against its database (the same settings as ``serve``):
the first admin of a new installation is created here, since nobody can
sign in to create them. Passwords are read from a hidden prompt, or from
the first line of standard input with ``--password-stdin`` (scripts), and
never from the command line, where ``ps`` and shell history would show them.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pushgate.cli.admin import _app, _database, _fail
from pushgate.cli.server_cmds import ConfigOption, load_settings

admin_user_commands = typer.Typer(help="Admin UI users: create them, grant them apps.", no_args_is_help=True)

Username = Annotated[str, typer.Argument(help="The admin's user name (letters, digits, . _ @ + -)")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin",
                                             help="Read the password from the first line of standard input")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@admin_user_commands.command("create-user")
def create_user(
    username: Username,
    superuser: Annotated[bool, typer.Option("--superuser", help="Sees and manages every app")] = False,
    apps: Annotated[list[str] | None, typer.Option("--app", "-a", help="Grant this app (id or name); "
                                                  "repeatable")] = None,
    password_stdin: PasswordStdin = False,
    config: ConfigOption = None,
) -> None:
    """Create an admin user for the web UI at /admin."""
    from pushgate.registry import ValidationError
    from pushgate.registry.admin_users import create_admin_user, grant_app

    password = _password(password_stdin)
    with _database(load_settings(config)) as db:
        granted = [_app(db, reference) for reference in apps or []]
        try:
            with db.session() as session:
                create_admin_user(session, username, password, superuser=superuser)
                for app in granted:
                    grant_app(session, username, app.id)
        except ValidationError as exc:
            raise _fail(f"{exc.field}: {exc.message}") from None
    scope = "every app (superuser)" if superuser else ", ".join(a.name for a in granted) or "no app yet"
    typer.echo(f"Created admin user {username}; sees {scope}. Sign in at /admin.")


@admin_user_commands.command("grant")
def grant(username: Username, app: Annotated[str, typer.Argument(help="The app's id or name")],
          config: ConfigOption = None) -> None:
    """Let an admin see and manage one more app."""
    from pushgate.registry import ValidationError
    from pushgate.registry.admin_users import grant_app

    with _database(load_settings(config)) as db:
        target = _app(db, app)
        try:
            with db.session() as session:
                grant_app(session, username, target.id)
        except ValidationError as exc:
            raise _fail(exc.message) from None
    typer.echo(f"{username} may now manage {target.name}.")


@admin_user_commands.command("revoke")
def revoke(username: Username, app: Annotated[str, typer.Argument(help="The app's id or name")],
           config: ConfigOption = None) -> None:
    """Take an app away from an admin."""
    from pushgate.registry import ValidationError
    from pushgate.registry.admin_users import revoke_app

    with _database(load_settings(config)) as db:
        target = _app(db, app)
        try:
            with db.session() as session:
                removed = revoke_app(session, username, target.id)
        except ValidationError as exc:
            raise _fail(exc.message) from None
    typer.echo(f"{username} no longer manages {target.name}." if removed
               else f"{username} did not manage {target.name}.")


@admin_user_commands.command("set-password")
def set_password(
    username: Username, password_stdin: PasswordStdin = False, config: ConfigOption = None
) -> None:
    """Give an admin a new password (also unlocks the account and signs out its sessions)."""
    from pushgate.registry import ValidationError
    from pushgate.registry.admin_users import set_admin_password

    password = _password(password_stdin)
    with _database(load_settings(config)) as db:
        try:
            with db.session() as session:
                set_admin_password(session, username, password)
        except ValidationError as exc:
            raise _fail(f"{exc.field}: {exc.message}") from None
    typer.echo(f"New password set for {username}.")


@admin_user_commands.command("delete-user")
def delete_user(username: Username, config: ConfigOption = None) -> None:
    """Delete an admin user (and end their sessions)."""
    from pushgate.registry.admin_users import delete_admin_user

    with _database(load_settings(config)) as db, db.session() as session:
        if not delete_admin_user(session, username):
            raise _fail(f"no admin user {username!r}")
    typer.echo(f"Deleted admin user {username}.")


@admin_user_commands.command("list-users")
def list_users(config: ConfigOption = None) -> None:
    """The admin users, with the apps each may see."""
    from pushgate.registry.admin_users import granted_app_ids, list_admin_users, visible_apps

    with _database(load_settings(config)) as db, db.session(write=False) as session:
        for user in list_admin_users(session):
            grants = granted_app_ids(session, user)
            apps = "every app" if grants is None else ", ".join(a.name for a in visible_apps(session, grants))
            locked = f"; locked until {user.locked_until:%Y-%m-%d %H:%M} UTC" if user.locked_until else ""
            role = "superuser" if user.superuser else "admin"
            typer.echo(f"{user.username}\t{role}\t{apps or 'no app'}{locked}")
