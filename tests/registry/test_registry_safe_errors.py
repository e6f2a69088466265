"""Database errors never carry a statement's values into messages, logs or stored reasons."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from pushgate.queue.tables import jobs_table
from pushgate.registry import Database
from pushgate.registry.safe_errors import carries_sql_parameters, log_failure, safe_reason

SECRET = "tok-5b1e0c9d-not-for-logs"


def _duplicate_job_error(database: Database) -> sa.exc.StatementError:
    row = {"id": SECRET, "queue": "q", "payload": {}, "status": "done", "run_at": 0.0, "due_at": 0.0,
           "attempts": 0, "max_tries": 1, "size": 1, "created_at": 0.0, "updated_at": 0.0}
    with database.connect() as connection:
        connection.execute(jobs_table.insert(), row)
    with pytest.raises(sa.exc.IntegrityError) as caught, database.connect() as connection:
        connection.execute(jobs_table.insert(), row)
    return caught.value


def test_the_engine_hides_statement_parameters(database: Database) -> None:
    error = _duplicate_job_error(database)
    assert database.engine.hide_parameters
    assert "SQL parameters hidden" in str(error)
    if database.is_sqlite:
        assert SECRET not in str(error)
    else:
        # PostgreSQL's own message names the key (DETAIL: Key (id)=(...)): why the logs still filter.
        assert SECRET in str(error)


def test_database_errors_are_logged_and_stored_by_type_only(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    error = _duplicate_job_error(database)
    try:
        raise RuntimeError("writing outcomes failed") from error
    except RuntimeError as exc:
        wrapped = exc
    logger = logging.getLogger("pushgate.test")
    with caplog.at_level(logging.WARNING, logger="pushgate.test"):
        for failure in (error, wrapped):
            assert carries_sql_parameters(failure)
            assert SECRET not in safe_reason(failure)
            log_failure(logger, "storing failed", failure, level=logging.WARNING)
    assert safe_reason(wrapped) == "RuntimeError <- " + safe_reason(error)
    assert safe_reason(error).startswith("IntegrityError <- ")
    assert SECRET not in caplog.text
    assert caplog.text.count("(parameters withheld)") == 2
    assert "test_registry_safe_errors.py" in caplog.text  # the traceback's locations are kept


def test_other_errors_keep_their_message(caplog: pytest.LogCaptureFixture) -> None:
    error = ValueError("bad input")
    assert not carries_sql_parameters(error)
    assert safe_reason(error) == "ValueError: bad input"
    assert safe_reason(ValueError("x" * 1000), limit=20) == "ValueError: xxxxxxxx"
    with caplog.at_level(logging.ERROR, logger="pushgate.test"):
        log_failure(logging.getLogger("pushgate.test"), "job failed", error)
    assert "job failed" in caplog.text
    assert "ValueError: bad input" in caplog.text
