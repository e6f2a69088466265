"""Errors in the workers' logs and job records, without the secrets they may carry.

A database error's message lists the statement's parameters — device
tokens, credentials — so for those only the error types and the traceback
(code locations) are written; other errors keep their message.
"""

from __future__ import annotations

import logging
import traceback


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def carries_sql_parameters(exc: BaseException) -> bool:
    from sqlalchemy.exc import StatementError

    return any(isinstance(link, StatementError) for link in _chain(exc))


def safe_reason(exc: BaseException, limit: int = 300) -> str:
    """What to store as a job's last error."""
    if carries_sql_parameters(exc):
        return " <- ".join(type(link).__name__ for link in _chain(exc))[:limit]
    return f"{type(exc).__name__}: {exc}"[:limit]


def log_failure(logger: logging.Logger, message: str, exc: BaseException, *,
                level: int = logging.ERROR) -> None:
    """``logger.exception`` for the workers: parameters withheld from database errors."""
    if carries_sql_parameters(exc):
        logger.log(level, "%s: %s (parameters withheld)\n%s", message, safe_reason(exc),
                   "".join(traceback.format_tb(exc.__traceback__)))
    else:
        logger.log(level, "%s", message, exc_info=exc)


__all__ = ["carries_sql_parameters", "log_failure", "safe_reason"]
