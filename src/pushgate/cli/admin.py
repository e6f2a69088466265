"""Admin commands: ``migrate``, ``app create|list|credentials|reencrypt``, ``devices import``.

They work on the database directly (no server needs to run), with the
same settings as ``pushgate serve`` (``--config FILE`` / ``PUSHGATE_*``)
and through the same code paths as the API: a send from the command line
is validated, size-checked, backpressured and stored with its fan-out job
exactly like ``POST /v1/sends`` (:func:`pushgate.service.submit.submit_send`).
The embedded SQLite database migrates itself on first use, as it does for
``serve``; PostgreSQL is upgraded only by ``pushgate migrate``.

Secrets are shown once: ``app create`` prints the new API key and nothing
prints it again; credentials are echoed redacted, and stored encrypted when
``secret_key`` is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pushgate.cli import words
from pushgate.cli.server_cmds import ConfigOption, load_settings
from pushgate.errors import ConfigurationError

if TYPE_CHECKING:
    from pushgate.registry import App, Database
    from pushgate.service.settings import Settings

# Heavy imports (rich, the registry) are made by the commands that use them:
# every ``pushgate`` command, ``serve`` too, imports this module to register them.

app_commands = typer.Typer(
    help="Create and list apps, store their provider credentials.", no_args_is_help=True
)
device_commands = typer.Typer(help="Bulk device operations.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _database(settings: Settings) -> Database:
    from sqlalchemy.exc import SQLAlchemyError

    from pushgate.cli.schema import require_schema
    from pushgate.service.components import open_database

    try:
        db = open_database(settings)
    except (SQLAlchemyError, ConfigurationError) as exc:
        raise _fail(f"cannot open the database: {type(exc).__name__}: {exc}") from None
    try:
        require_schema(db)
    except typer.Exit:
        db.dispose()
        raise
    return db


def _app(db: Database, reference: str) -> App:
    """An app by id or by name."""
    from pushgate.registry import get_app, get_app_by_name

    with db.session(write=False) as session:
        if reference.isdigit():
            found = get_app(session, int(reference))
        else:
            found = get_app_by_name(session, reference)
    if found is None:
        raise _fail(f"no app {reference!r} (give its id or name; `pushgate app list` shows them)")
    return found


def _warn_unreadable(app_name: str, provider: str, problem: Exception) -> None:
    """Stored credentials this secret_key cannot decrypt: said in the words of the error the
    workers meet (CredentialsUnreadable), then what to do, by ``app list`` and ``credentials-list``."""
    import shlex

    typer.secho(f"warning: {problem}. Sends with them fail until pushgate runs with the "
                "secret_key they were stored with (or that key in previous_secret_keys, then "
                "`pushgate app reencrypt`), or they are stored again: "
                f"`pushgate app credentials {shlex.quote(app_name)} {provider}`",
                err=True, fg=typer.colors.YELLOW)


AppOption = Annotated[str, typer.Option("--app", "-a", help="The app's id or name")]


def migrate(config: ConfigOption = None) -> None:
    """Bring the database schema up to this version (PostgreSQL needs this before `serve`)."""
    from pushgate.registry import Database

    settings = load_settings(config)
    try:
        database = Database(settings.database_url)
    except ConfigurationError as exc:  # an unsupported URL: worded as serve words it
        typer.secho(f"configuration error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    with database as db:
        db.migrate()
        shown = db.url.render_as_string(hide_password=True)  # the URL as configured, password hidden
        typer.echo(f"{shown}: schema at revision {db.current_revision()}")


@app_commands.command("create")
def create_app(
    name: Annotated[str, typer.Argument(help="A name for the app, e.g. the product's")],
    config: ConfigOption = None,
) -> None:
    """Create an app and print its API key (once: it cannot be shown again)."""
    from pushgate.registry import ValidationError
    from pushgate.registry import create_app as create

    with _database(load_settings(config)) as db:
        try:
            with db.session() as session:
                app, key = create(session, name)
        except ValidationError as exc:
            raise _fail(exc.message) from None
    from rich.console import Console

    console = Console()
    console.print(f"Created app [bold]{app.id}[/bold] ([bold]{app.name}[/bold]).")
    console.print("[yellow]API key — shown this once, store it now; it cannot be shown again:[/yellow]")
    typer.echo(key)


@app_commands.command("list")
def list_apps(config: ConfigOption = None) -> None:
    """The apps, with the providers they have credentials for.

    Credentials this secret_key cannot decrypt are marked, and each gets the
    warning ``credentials-list`` gives, on stderr.
    """
    from rich.console import Console
    from rich.table import Table

    from pushgate.registry import CredentialCipher, list_credentials
    from pushgate.registry import list_apps as apps

    settings = load_settings(config)
    cipher = CredentialCipher.from_settings(settings)
    table = Table("id", "name", "providers", "created")
    unreadable: list[tuple[str, str, Exception]] = []
    with _database(settings) as db, db.session(write=False) as session:
        for app in apps(session):
            providers = []
            for row in list_credentials(session, app.id):
                problem = cipher.unreadable(row.app_id, row.provider, row.config)
                providers.append(row.provider if problem is None else f"{row.provider} (cannot be decrypted)")
                if problem is not None:
                    unreadable.append((app.name, row.provider, problem))
            table.add_row(str(app.id), app.name, ", ".join(providers) or "-",
                          app.created_at.strftime("%Y-%m-%d %H:%M"))
    Console().print(table)
    for name, provider, error in unreadable:
        _warn_unreadable(name, provider, error)


# Each provider's credential fields, as the provider table declares them
# (tests/cli/test_cli_credentials.py checks this against the specs). Written
# out because every command imports this module and must not load the providers.
_FIELDS_HELP = """apns: topic, environment, key, key_id, team_id, certificate, certificate_key

fcm: service_account, project_id

webpush: vapid_private_key, vapid_subject

wns: client_id, client_secret, tenant_id

any provider: base_url, token_url, ca_file, allowed_hosts"""


@app_commands.command("credentials", help=f"""Store an app's credentials for one provider.

They are checked first, and printed redacted.

Give the fields as a JSON file (--file; for FCM, Google's service-account
key file as it is), a key file by path (--key-file: an APNs .p8 key or
certificate PEM, a Web Push VAPID key, an FCM service-account file) and
single fields (--set name=value). Fields each provider takes:

{_FIELDS_HELP}
""")
def credentials(
    app: Annotated[str, typer.Argument(help="The app's id or name")],
    provider: Annotated[str, typer.Argument(help="apns, fcm, webpush or wns")],
    file: Annotated[Path | None, typer.Option("--file", "-f", help="JSON file with the credentials",
                                              exists=True, dir_okay=False, readable=True)] = None,
    key_file: Annotated[Path | None, typer.Option(help="A key or certificate file, by path", exists=True,
                                                  dir_okay=False, readable=True)] = None,
    fields: Annotated[list[str] | None, typer.Option("--set", help="name=value (repeatable)")] = None,
    config: ConfigOption = None,
) -> None:
    from pushgate.registry import CredentialCipher, ProviderName, ValidationError, set_credentials
    from pushgate.registry.validation import validate_choice
    from pushgate.server.credentials import check_credentials

    try:  # before reading the files: a key file is read the way its provider reads it
        kind = validate_choice(provider, ProviderName, "provider")
    except ValidationError as exc:
        raise _fail(f"{exc.field}: {exc.message}") from None
    values = _credential_values(kind.value, file, key_file, fields or [])
    settings = load_settings(config)
    cipher = CredentialCipher.from_settings(settings)
    with _database(settings) as db:
        target = _app(db, app)
        try:
            clean = check_credentials(kind, values)
            with db.session() as session:
                row = set_credentials(session, target.id, kind.value, clean, cipher=cipher)
                shown = row.redacted()
        except ValidationError as exc:
            raise _fail(f"{exc.field.removeprefix('config.')}: {exc.message}") from None
    typer.echo(f"Stored {kind.value} credentials for app {target.id} ({target.name}):")
    typer.echo(json.dumps(shown, indent=2))


def _credential_values(provider: str, file: Path | None, key_file: Path | None,
                       fields: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    if file is not None:
        try:
            loaded = json.loads(file.read_text())
        except ValueError as exc:
            raise _fail(f"{file} is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise _fail(f"{file} must hold a JSON object")
        values.update(loaded)
    if key_file is not None:
        values.update(_key_file_fields(provider, key_file))
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _fail(f"--set takes name=value, not {item!r}")
        values[name] = value
    if not values and file is not None:
        raise _fail(f"{file} holds no fields; `pushgate app credentials --help` lists each provider's")
    if not values:
        raise _fail("give the credentials: --file, --key-file or --set name=value")
    return values


def _key_file_fields(provider: str, path: Path) -> dict[str, object]:
    """The fields a key file fills, as the provider reads it (for APNs: by what the PEM holds)."""
    from pushgate.providers import CredentialError, provider_spec

    read = provider_spec(provider).key_file_fields
    if read is None:
        raise _fail(f"{provider} takes no key file; use --set or --file")
    try:
        return read(path.read_text())
    except CredentialError as exc:
        raise _fail(f"{path}: {exc.message}") from None


@app_commands.command("reencrypt")
def reencrypt(config: ConfigOption = None) -> None:
    """Encrypt every app's stored credentials with the current secret_key.

    Run it after setting secret_key for the first time (credentials stored
    before are still plain), or after a rotation (the old key in
    previous_secret_keys). Running it again changes nothing.
    """
    from pushgate.registry import CredentialCipher, CredentialsUnreadable, reencrypt_credentials

    settings = load_settings(config)
    cipher = CredentialCipher.from_settings(settings)
    if not cipher.enabled:
        raise _fail("no secret_key is set (PUSHGATE_SECRET_KEY or secret_key in the config file)", 2)
    with _database(settings) as db:
        try:
            with db.session() as session:
                changed, total = reencrypt_credentials(session, cipher)
        except CredentialsUnreadable as exc:
            raise _fail(f"{exc}; nothing was changed") from None
    typer.echo(f"{changed} of {total} credentials re-encrypted with the current key")


@device_commands.command("import")
def import_devices(
    file: Annotated[Path, typer.Argument(help="CSV, JSON lines, or a JSON array of devices", exists=True,
                                         dir_okay=False, readable=True)],
    app: AppOption,
    config: ConfigOption = None,
) -> None:
    """Register many devices from a file, with a progress bar; bad rows are listed, not fatal."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from pushgate.cli.device_files import (
        DeviceFileError,
        UnreadableRow,
        count_units,
        detect_format,
        read_rows,
    )
    from pushgate.registry import import_devices as store
    from pushgate.service.components import validation_policy

    settings = load_settings(config)
    kind = detect_format(file)
    unreadable: dict[int, str] = {}
    with _database(settings) as db:
        target = _app(db, app)
        columns = (TextColumn("importing"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
        try:
            with Progress(*columns, console=Console(stderr=True)) as progress:
                task = progress.add_task("import", total=count_units(file, kind))

                def rows() -> Any:
                    for index, row in enumerate(read_rows(file, kind, lambda n: progress.advance(task, n))):
                        if isinstance(row, UnreadableRow):
                            unreadable[index] = str(row)
                        yield row

                result = store(db, target.id, rows(), policy=validation_policy(settings),
                               default_max_devices=settings.max_devices_per_user)
        except DeviceFileError as exc:
            raise _fail(str(exc)) from None
    for error in result.errors[:50]:
        problem = unreadable.get(error.index) or f"{error.field}: {error.message}"
        typer.secho(f"row {error.index + 1}: {problem}", err=True, fg=typer.colors.YELLOW)
    if len(result.errors) > 50:
        more = len(result.errors) - 50
        typer.secho(f"… and {words.count(more, 'more row')} with errors", err=True, fg=typer.colors.YELLOW)
    typer.echo(f"{result.created} created, {result.updated} updated, {len(result.errors)} rejected"
               + (f", {result.evicted} retired (devices per user limit)" if result.evicted else ""))
    if result.errors and not (result.created or result.updated):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the admin commands to the ``pushgate`` application."""
    app.command("migrate")(migrate)
    from pushgate.cli.send_cmd import send

    app.command("send")(send)
    import pushgate.cli.app_admin  # noqa: F401  (adds delete, keys and credentials-* to `app`)

    app.add_typer(app_commands, name="app")
    app.add_typer(device_commands, name="devices")


__all__ = ["register"]
