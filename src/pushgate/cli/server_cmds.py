"""``pushgate serve``, ``pushgate worker`` and ``pushgate demo``.

Settings come from ``--config FILE`` (or ``PUSHGATE_CONFIG``) and
``PUSHGATE_*`` environment variables, validated before anything starts;
the few options here override them for one run.

These are the commands' Typer faces: their help, their usage errors and
their place in the full application. What they run is
:mod:`pushgate.cli.service_run`, which ``pushgate serve`` and ``pushgate
worker`` reach without Typer when their options parse
(:mod:`pushgate.cli.service_args`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from pushgate.cli import service_run
from pushgate.service.settings import Settings

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (else $PUSHGATE_CONFIG)")
]


def load_settings(config: Path | None, **overrides: object) -> Settings:
    """Settings from the file and environment, with command-line overrides; exits on errors."""
    with _refusals():
        return service_run.load_settings(config, **overrides)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A :class:`~pushgate.cli.service_run.Refused` as Typer says it: red on stderr, then exit."""
    try:
        yield
    except service_run.Refused as refused:
        typer.secho(refused.message, err=True, fg=typer.colors.RED)
        raise typer.Exit(refused.code) from None


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
    with _refusals():
        service_run.run_serve(config, host, port, workers, drain)


def worker(
    config: ConfigOption = None,
    count: Annotated[int, typer.Option("--workers", "-n", min=1, help="Worker loops in this process")] = 1,
    drain: Annotated[float, typer.Option(help="Seconds to finish in-flight work on SIGTERM")] = 30.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (host: the `host` setting)")
    ] = None,
) -> None:
    """Run sender workers only, against the same database as `pushgate serve`."""
    with _refusals():
        service_run.run_worker(config, count, drain, metrics_port)


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
