"""``pushgate messages list|get|put|delete|import|export``: an app's event-mode catalog at a shell.

The same checks as ``/v1/messages`` (:mod:`pushgate.service.catalog`): a
template with a syntax error, a reserved event id or an unknown field is
refused with the field named, and nothing is stored. Catalog files are
JSON or YAML (by extension: ``.yaml``/``.yml`` is YAML, anything else
JSON), shaped as ``export`` writes them::

    settings: {default_language: en, deep_link_base: "myapp://"}
    messages:
      - name: order_shipped
        events: [1001]
        cooldown: 3600
        localizations:
          en: {title: "Shipped", body: "Order {order} is on its way"}

``import`` stores the whole file in one transaction: all of it or none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pushgate.cli.admin import AppOption, _app, _database, _fail
from pushgate.cli.server_cmds import ConfigOption, load_settings
from pushgate.cli.words import count

messages_commands = typer.Typer(help="The app's event-mode message catalog (docs/events.md).",
                                no_args_is_help=True)
NameArgument = Annotated[str, typer.Argument(help="The message's name")]
FileArgument = Annotated[Path, typer.Argument(help="A JSON or YAML file", exists=True, dir_okay=False)]


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise _fail(f"{path}: not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _fail(f"{path}: not valid JSON: {exc}") from None


def _write(document: Any, path: Path | None, yaml_format: bool) -> None:
    if yaml_format or (path is not None and path.suffix.lower() in (".yaml", ".yml")):
        import yaml

        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if path is None:
        typer.echo(text, nl=False)
    else:
        path.write_text(text, encoding="utf-8")


def _refused(exc: Exception) -> typer.Exit:
    from pushgate.registry import ValidationError

    if isinstance(exc, ValidationError):
        return _fail(f"{exc.field}: {exc.message}")
    return _fail(str(exc))


@messages_commands.command("list")
def list_messages(app: AppOption, config: ConfigOption = None) -> None:
    """The catalog: name, trigger events, cooldown, languages."""
    from rich.console import Console
    from rich.table import Table

    from pushgate.registry.catalog.messages import list_messages as listed

    table = Table("name", "events", "cooldown", "expiry", "languages")
    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session(write=False) as session:
            for view in listed(session, target.id):
                f = view.fields
                table.add_row(view.name, ", ".join(map(str, f.events)), str(f.cooldown),
                              str(f.expiry) if f.expiry is not None else "-", ", ".join(view.localizations))
    Console().print(table)


@messages_commands.command("get")
def get_message(
    name: NameArgument,
    app: AppOption,
    config: ConfigOption = None,
    yaml_format: Annotated[bool, typer.Option("--yaml", help="YAML instead of JSON")] = False,
) -> None:
    """One message with its localizations."""
    from pushgate.registry.catalog.messages import get_message as get
    from pushgate.service.catalog import message_json

    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session(write=False) as session:
            view = get(session, target.id, name)
    if view is None:
        raise _fail(f"no message {name!r}")
    _write(message_json(view), None, yaml_format)


@messages_commands.command("put")
def put_message(name: NameArgument, file: FileArgument, app: AppOption, config: ConfigOption = None) -> None:
    """Create or replace a message from a file (the shape ``get`` prints)."""
    from pushgate.registry import ValidationError
    from pushgate.service.catalog import save_message

    data = _read(file)
    if not isinstance(data, dict):
        raise _fail(f"{file}: a message is an object")
    with _database(load_settings(config)) as db:
        target = _app(db, app)
        try:
            with db.session() as session:
                _, created = save_message(session, target.id, name, data)
        except ValidationError as exc:
            raise _refused(exc) from None
    typer.echo(f"{'Created' if created else 'Replaced'} message {name}.")


@messages_commands.command("delete")
def delete_message(name: NameArgument, app: AppOption, config: ConfigOption = None) -> None:
    """Delete a message and its localizations."""
    from pushgate.registry.catalog.messages import delete_message as delete

    with _database(load_settings(config)) as db:
        target = _app(db, app)
        with db.session() as session:
            deleted = delete(session, target.id, name)
    if not deleted:
        raise _fail(f"no message {name!r}")
    typer.echo(f"Deleted message {name}.")


@messages_commands.command("import")
def import_catalog(file: FileArgument, app: AppOption, config: ConfigOption = None) -> None:
    """Store a catalog file (settings and messages) in one transaction: all of it or nothing."""
    from pushgate.registry import ValidationError
    from pushgate.service.catalog import import_catalog as store

    document = _read(file)
    with _database(load_settings(config)) as db:
        target = _app(db, app)
        try:
            created, updated = store(db, target.id, document)
        except ValidationError as exc:
            raise _refused(exc) from None
    typer.echo(f"Imported {count(created + updated, 'message')} ({created} new, {updated} replaced).")


@messages_commands.command("export")
def export_catalog(
    app: AppOption,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Write here (.yaml: YAML) instead of stdout")
    ] = None,
    yaml_format: Annotated[bool, typer.Option("--yaml", help="YAML instead of JSON")] = False,
    config: ConfigOption = None,
) -> None:
    """Write the app's event settings and catalog, in the shape ``import`` reads."""
    from pushgate.service.catalog import export_catalog as export

    with _database(load_settings(config)) as db:
        target = _app(db, app)
        document = export(db, target.id)
    _write(document, file, yaml_format)
    if file is not None:
        typer.echo(f"Wrote {count(len(document['messages']), 'message')} to {file}.", err=True)


__all__ = ["messages_commands"]
