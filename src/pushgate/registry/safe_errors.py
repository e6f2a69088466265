"""Database errors in logs and stored reasons, without the values they may carry.

The engine is created with ``hide_parameters=True`` (:class:`~pushgate.registry.db.Database`),
so SQLAlchemy no longer prints a statement's parameters in its messages.
That is not enough on its own: the driver's message is kept verbatim, and
PostgreSQL's names the offending values (``DETAIL: Key (token_hash)=(…)
already exists``). So for an error that came from a statement — anywhere in
its ``__cause__``/``__context__`` chain — only the error types and the
traceback (code locations) are written; any other error keeps its message.

The API's 500 handler (:mod:`pushgate.server.errors`) and the sender
workers both log through here.
"""

from __future__ import annotations

import logging
import traceback


def error_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, outermost first (cycles cut)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def carries_sql_parameters(exc: BaseException) -> bool:
    """True if ``exc`` or anything in its chain is a database statement's error."""
    # Imported here: the library (no server extra) never loads SQLAlchemy.
    from sqlalchemy.exc import StatementError

    return any(isinstance(link, StatementError) for link in error_chain(exc))


def safe_reason(exc: BaseException, limit: int = 300) -> str:
    """A one-line reason to store (a job's last error): the type chain of database errors."""
    if carries_sql_parameters(exc):
        return " <- ".join(type(link).__name__ for link in error_chain(exc))[:limit]
    return f"{type(exc).__name__}: {exc}"[:limit]


def log_failure(logger: logging.Logger, message: str, exc: BaseException, *,
                level: int = logging.ERROR) -> None:
    """``logger.exception(message)``, with the values withheld from database errors."""
    if carries_sql_parameters(exc):
        logger.log(level, "%s: %s (parameters withheld)\n%s", message, safe_reason(exc),
                   "".join(traceback.format_tb(exc.__traceback__)))
    else:
        logger.log(level, "%s", message, exc_info=exc)


__all__ = ["carries_sql_parameters", "error_chain", "log_failure", "safe_reason"]
