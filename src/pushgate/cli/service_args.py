"""``pushgate serve`` and ``pushgate worker`` options, read with click alone.

Why: a Typer application holds its own copy of click and its conversion
machinery, about 1.2 MB that an idle ``pushgate serve`` would keep for its
whole life (bench scenario 6), while uvicorn has loaded click itself. So
when the command line is one these commands run with, it is read here and
the command runs (:mod:`pushgate.cli.service_run`) without Typer; anything
else (``--help``, an unknown option, a value that does not convert) is
left to the Typer command of :mod:`pushgate.cli.server_cmds`, which prints
the help or the error the full application prints.

The options are those of the Typer commands, with the same names, types
and defaults; ``tests/cli/test_cli_service_args.py`` holds the two to the
same values for the same command lines.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import click
from annotated_types import Ge

from pushgate.cli import service_run

# Each option's value type and default, as the Typer commands declare them. click only splits the
# command line; the values are converted by pydantic, as Typer converts them (" 7 " is 7, "٣" is
# no number), so a value Typer would refuse is never run with here.
_OPTIONS: dict[str, dict[tuple[str, ...], tuple[str, Any, object]]] = {  # Any: a type or an Annotated form
    "serve": {
        ("--config", "-c"): ("config", Path, None),
        ("--host",): ("host", str, None),
        ("--port",): ("port", int, None),
        ("--workers",): ("workers", int, None),
        ("--drain",): ("drain", float, 30.0),
    },
    "worker": {
        ("--config", "-c"): ("config", Path, None),
        ("--workers", "-n"): ("count", Annotated[int, Ge(1)], 1),  # Typer's min=1
        ("--drain",): ("drain", float, 30.0),
        ("--metrics-port",): ("metrics_port", int, None),
    },
}
_RUNS: dict[str, Callable[..., None]] = {"serve": service_run.run_serve, "worker": service_run.run_worker}


def parse(command: str, args: list[str]) -> Callable[[], None] | None:
    """``command`` (serve or worker) to run with ``args``, or None when only Typer should answer them."""
    from pydantic import TypeAdapter, ValidationError

    options = _OPTIONS[command]
    parser = click.Command(command, add_help_option=False, params=[
        click.Option([*flags, name], type=str) for flags, (name, _, _) in options.items()
    ])
    try:
        given = parser.make_context(f"pushgate {command}", list(args)).params
    except click.ClickException:  # a usage error, or --help (no such option here)
        return None
    values: dict[str, object] = {}
    for name, kind, default in options.values():
        text = given[name]
        try:
            values[name] = default if text is None else TypeAdapter(kind).validate_python(text)
        except ValidationError:
            return None
    return functools.partial(_RUNS[command], **values)


def run(command: str, args: list[str]) -> bool:
    """Run ``command`` if its ``args`` parse here; False when they are Typer's to answer."""
    start = parse(command, args)
    if start is None:
        return False
    try:
        start()
    except service_run.Refused as refused:
        click.secho(refused.message, err=True, fg="red")
        sys.exit(refused.code)
    except KeyboardInterrupt:  # before the service owns SIGINT: as click's commands end on it
        click.echo(err=True)
        click.echo("Aborted!", err=True)
        sys.exit(1)
    return True


__all__ = ["parse", "run"]
