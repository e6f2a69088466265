"""What ``pushgate serve`` and ``pushgate worker`` do once their options are parsed, without Typer.

The long-running processes parse their few options with click
(:mod:`pushgate.cli.service_args`), which uvicorn loads anyway, and run from
here; Typer and its own copy of click (about 1.2 MB, bench scenario 6) are
loaded only for their help, their usage errors and every other command. The
Typer commands (:mod:`pushgate.cli.server_cmds`) run the same functions, so
both paths start the same service and refuse the same settings with the same
words: a refusal is a :class:`Refused` that each front end prints its own way.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pushgate.allowed_hosts import host_port
from pushgate.errors import ConfigurationError
from pushgate.service.listen import CannotListen
from pushgate.service.settings import Settings, describe_error


class Refused(Exception):
    """The command cannot start: ``message`` for stderr, ``code`` for the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def keep_unused_modules_out() -> None:
    """Stop modules the service processes never use from loading with their libraries.

    FastAPI checks every route's models against pydantic's legacy v1 ``BaseModel``
    and imports the whole ``pydantic.v1`` package to do so (23 modules, 1.1 MB of
    an idle ``pushgate serve``, bench scenario 6); pushgate has no v1 model, and
    FastAPI takes an ``ImportError`` there for "not a v1 model"
    (``fastapi._compat.shared.is_pydantic_v1_model_class``). ``None`` in
    ``sys.modules`` makes that import fail at once
    (https://docs.python.org/3/reference/import.html#the-module-cache). Only the
    CLI's own processes do this: a program that embeds the app keeps its imports.
    """
    # typeshed types sys.modules without the None entries the import system honours.
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]


def load_settings(config: Path | None, **overrides: object) -> Settings:
    """Settings from the file and environment, with command-line overrides (None: not given)."""
    from pydantic import ValidationError

    try:
        settings = Settings.load(config)
    except ConfigurationError as exc:
        raise Refused(f"configuration error: {exc}", 2) from None
    changes = {k: v for k, v in overrides.items() if v is not None}
    if not changes:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **changes})
    except ValidationError as exc:  # a bad option value: said with the option's name
        problems = "; ".join(f"{_option(err['loc'], changes)}: {describe_error(err)}" for err in exc.errors())
        raise Refused(f"configuration error: {problems}", 2) from None


def _option(location: tuple[int | str, ...], options: dict[str, object]) -> str:
    """The command-line option a validation error is about (``--port``), else the setting's path."""
    if location and location[0] in options:
        return "--" + str(location[0]).replace("_", "-")
    return ".".join(str(part) for part in location)


def check_schema(settings: Settings) -> None:
    """PostgreSQL not migrated to this version, or Redis unreachable: refuse rather than serve errors."""
    from pushgate.cli.schema import schema_problem
    from pushgate.registry import Database
    from pushgate.service.components import check_queue

    try:
        database = Database(settings.database_url)
    except ConfigurationError as exc:  # an unsupported URL: the settings are wrong, not pushgate
        raise Refused(f"configuration error: {exc}", 2) from None
    with database as db:
        problem = schema_problem(db)
    if problem is not None:
        raise Refused(f"error: {problem}", 1)
    try:
        check_queue(settings)  # queue = "redis": Redis must answer
    except ConfigurationError as exc:
        raise Refused(f"configuration error: {exc}", 2) from None


def run_serve(config: Path | None, host: str | None, port: int | None, workers: int | None,
              drain: float) -> None:
    """``pushgate serve``: the HTTP API and the sender workers, until stopped."""
    keep_unused_modules_out()  # before the routes are built
    from pushgate.server import create_app
    from pushgate.service.runtime import configure_logging
    from pushgate.service.runtime import serve as run

    settings = load_settings(config, host=host, port=port, workers=workers)
    check_schema(settings)
    configure_logging(settings.log_level)
    try:
        asyncio.run(run(settings, create_app, drain=drain, freeze_heap=True))
    except CannotListen as exc:
        raise Refused(_cannot_listen(exc, "pass --port or set PUSHGATE_PORT",
                                     "pass --host/--port or set PUSHGATE_HOST/PUSHGATE_PORT"), 1) from None


def run_worker(config: Path | None, count: int, drain: float, metrics_port: int | None) -> None:
    """``pushgate worker``: sender workers only, until stopped."""
    keep_unused_modules_out()
    from pushgate.service.runtime import configure_logging, run_workers

    settings = load_settings(config)
    check_schema(settings)
    configure_logging(settings.log_level)
    try:
        asyncio.run(run_workers(settings, count=count, drain=drain, metrics_port=metrics_port,
                                freeze_heap=True))
    except CannotListen as exc:  # the metrics port: the host is the `host` setting
        raise Refused(_cannot_listen(exc, "pass another --metrics-port (0: any free port)",
                                     "pass another --metrics-port, or set PUSHGATE_HOST"), 1) from None


def _cannot_listen(exc: CannotListen, when_in_use: str, otherwise: str) -> str:
    """One line: which port, what is wrong, which option or setting changes it."""
    if exc.in_use:
        return f"port {exc.port} is in use: {when_in_use}"
    return f"cannot listen on {host_port(exc.host, exc.port)}: {exc.reason}: {otherwise}"


__all__ = ["Refused", "check_schema", "load_settings", "run_serve", "run_worker"]
