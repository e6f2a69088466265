"""Stop a command early when PostgreSQL's schema is not this version's.

The embedded SQLite database migrates itself; PostgreSQL is upgraded only by
``pushgate migrate`` (an operator's decision). Before it, the tables are
missing: ``app create`` would die with a traceback and ``serve`` would keep
retrying a query that cannot work. Every command that needs the schema
checks it first and says what to run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pushgate.registry import Database


def schema_problem(db: Database) -> str | None:
    """What is wrong with the schema (None: ready, or SQLite, which migrates itself)."""
    from sqlalchemy.exc import SQLAlchemyError

    from pushgate.service.components import schema_head

    if db.is_sqlite:
        return None
    try:
        current = db.current_revision()
    except SQLAlchemyError as exc:
        return f"cannot read the database schema ({type(exc).__name__}): is the database reachable?"
    if current is None:
        return "the database has no pushgate schema yet: run `pushgate migrate`"
    if current != schema_head():
        return (f"the database schema is at {current}, this version needs {schema_head()}: "
                "run `pushgate migrate`")
    return None


def require_schema(db: Database) -> None:
    """Print the problem and exit 1, or return when the schema is ready."""
    import typer  # here: pushgate serve reads schema_problem without Typer (cli/service_run.py)

    problem = schema_problem(db)
    if problem is not None:
        typer.secho(f"error: {problem}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
