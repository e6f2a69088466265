"""``pushgate serve``, ``pushgate worker`` and ``pushgate demo``.

Settings come from ``--config FILE`` (or ``PUSHGATE_CONFIG``) and
``PUSHGATE_*`` environment variables, validated before anything starts;
the few options here override them for one run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from pushgate.errors import ConfigurationError
from pushgate.service.settings import Settings

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (else $PUSHGATE_CONFIG)")
]


def load_settings(config: Path | None, **overrides: object) -> Settings:
    """Settings from the file and environment, with command-line overrides; exits on errors."""
    try:
        settings = Settings.load(config)
        changes = {k: v for k, v in overrides.items() if v is not None}
        if changes:
            settings = Settings.model_validate({**settings.model_dump(), **changes})
    except ConfigurationError as exc:
        typer.secho(f"configuration error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    except ValueError as exc:  # pydantic's ValidationError for a bad override
        typer.secho(f"configuration error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    return settings


def _check_schema(settings: Settings) -> None:
    """PostgreSQL not migrated to this version: say so and exit, rather than serve errors."""
    from pushgate.cli.schema import require_schema
    from pushgate.registry import Database

    try:
        database = Database(settings.database_url)
    except ConfigurationError as exc:  # an unsupported URL: the settings are wrong, not pushgate
        typer.secho(f"configuration error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    with database as db:
        require_schema(db)
    _check_queue(settings)


def _check_queue(settings: Settings) -> None:
    """queue = "redis" with Redis unreachable: say what to set and exit, rather than start."""
    from pushgate.service.components import check_queue

    try:
        check_queue(settings)
    except ConfigurationError as exc:
        typer.secho(f"configuration error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port (0: any free port, printed at start)")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Sender workers in this process (0: API only)")
    ] = None,
    drain: Annotated[float, typer.Option(help="Seconds to finish in-flight work on SIGTERM")] = 30.0,
) -> None:
    """Run the HTTP API and the sender workers (the one-machine default)."""
    from pushgate.server import create_app
    from pushgate.service.runtime import configure_logging
    from pushgate.service.runtime import serve as run

    settings = load_settings(config, host=host, port=port, workers=workers)
    _check_schema(settings)
    configure_logging(settings.log_level)
    asyncio.run(run(settings, create_app, drain=drain, freeze_heap=True))


def worker(
    config: ConfigOption = None,
    count: Annotated[int, typer.Option("--workers", "-n", help="Worker loops in this process")] = 1,
    drain: Annotated[float, typer.Option(help="Seconds to finish in-flight work on SIGTERM")] = 30.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (host: the `host` setting)")
    ] = None,
) -> None:
    """Run sender workers only, against the same database as `pushgate serve`."""
    from pushgate.service.runtime import configure_logging, run_workers

    settings = load_settings(config)
    _check_schema(settings)
    configure_logging(settings.log_level)
    asyncio.run(run_workers(settings, count=count, drain=drain, metrics_port=metrics_port,
                            freeze_heap=True))


def demo(
    database_url: Annotated[
        str | None, typer.Option(help="Database (default: a SQLite file in a temporary directory)")
    ] = None,
    devices: Annotated[int, typer.Option(help="Simulated devices per provider")] = 100,
    port: Annotated[int, typer.Option(help="API port (0: any free port)")] = 0,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="Exit after the demo send instead of serving on")
    ] = False,
) -> None:
    """Start simulators, a server and an app with simulated devices, and send to all of them."""
    from pushgate.cli.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(database_url, devices, port, exit_after)))


def register(app: typer.Typer) -> None:
    """Add the commands to the ``pushgate`` application."""
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("demo")(demo)


__all__ = ["demo", "load_settings", "register", "serve", "worker"]
