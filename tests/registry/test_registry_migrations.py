"""Migrations: from an empty database to head, matching the models, and back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.schema import CreateIndex

from pushgate.errors import ConfigurationError
from pushgate.queue.tables import ACTIVE, jobs_table
from pushgate.registry import Database
from pushgate.registry.db import VERSION_TABLE
from pushgate.registry.migrations import HEAD_REVISION
from pushgate.registry.models import Base


def _tables(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_migrate_from_empty_to_head_matches_the_models(empty_database_url: str) -> None:
    with Database(empty_database_url) as db:
        assert db.current_revision() is None
        db.migrate()
        assert db.current_revision() == HEAD_REVISION
        assert jobs_table.metadata is Base.metadata  # the queue's table is migrated with the registry
        assert {table.name for table in Base.metadata.sorted_tables} | {VERSION_TABLE} == _tables(db)
        with db.connect(write=False) as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, Base.metadata) == []


def test_the_claim_index_is_partial_in_the_models_and_the_database(empty_database_url: str) -> None:
    # compare_metadata does not compare index predicates: this checks the one the queue relies on.
    with Database(empty_database_url) as db:
        db.migrate()
        model = next(index for index in jobs_table.indexes if index.name == "ix_jobs_claim")
        assert str(CreateIndex(model).compile(dialect=db.engine.dialect)).endswith(f"WHERE {ACTIVE}")
        with db.connect(write=False) as connection:
            if db.is_sqlite:
                query = "SELECT sql FROM sqlite_master WHERE name = 'ix_jobs_claim'"
            else:
                query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_jobs_claim'"
            stored = connection.execute(sa.text(query)).scalar_one()
        predicate = stored.partition(" WHERE ")[2]
        assert "'queued'" in predicate
        assert "'leased'" in predicate


def test_sqlite_never_loads_the_postgresql_dialect(tmp_path: Path) -> None:
    # A fresh interpreter: the registry, the queue's table and an SQLite database leave SQLAlchemy's
    # PostgreSQL dialect unimported; opening a PostgreSQL database gives the index its predicate.
    probe = (
        "import sys; from pushgate.queue.tables import jobs_table; from pushgate.registry import Database;"
        "from pushgate.registry.rate_limits import add_hits;"
        "db = Database(sys.argv[1]); db.migrate_in_child(); add_hits(db, 'b', 1, 1);"
        "print('sqlalchemy.dialects.postgresql' in sys.modules);"
        "Database('postgresql://u@db/x');"
        "print(next(iter(jobs_table.indexes)).dialect_options['postgresql']['where'])"
    )
    child = subprocess.run([sys.executable, "-c", probe, f"sqlite:///{tmp_path / 'p.db'}"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.splitlines() == ["False", ACTIVE]


def test_migrate_is_idempotent_and_downgrade_removes_everything(empty_database_url: str) -> None:
    with Database(empty_database_url) as db:
        db.migrate()
        db.migrate()
        assert db.current_revision() == HEAD_REVISION
        db.downgrade("base")
        assert db.current_revision() is None
        assert _tables(db) <= {VERSION_TABLE}
        db.migrate()
        assert db.current_revision() == HEAD_REVISION


def test_sqlite_pragmas(tmp_path: object) -> None:
    with Database(f"sqlite:///{tmp_path}/p.db", synchronous="FULL") as db, db.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_url_handling(tmp_path: object) -> None:
    assert Database("postgresql://u:secret@db/x").url.drivername == "postgresql+psycopg"
    # The spelling Heroku and many tools print, which SQLAlchemy itself no longer accepts.
    assert Database("postgres://u:secret@db/x").url.drivername == "postgresql+psycopg"
    assert Database("postgres+psycopg://u@db/x").url.drivername == "postgresql+psycopg"
    assert "secret" not in repr(Database("postgresql://u:secret@db/x"))
    with pytest.raises(ConfigurationError):
        Database("sqlite://")
    with pytest.raises(ConfigurationError):
        Database("mysql://db/x")


def test_a_path_instead_of_a_url_says_which_url_to_write() -> None:
    # The same words as the database_url setting (Settings), not SQLAlchemy's parse error.
    with pytest.raises(ConfigurationError) as refused:
        Database("pushgate.db")
    assert str(refused.value) == "'pushgate.db' is not a database URL: for a SQLite file write sqlite:///pushgate.db"
    with pytest.raises(ConfigurationError) as with_password:
        Database("app:hunter2@db/pushgate")
    assert "hunter2" not in str(with_password.value)  # never repeated: it may hold a password
    assert "postgresql+psycopg://user:password@host/name" in str(with_password.value)


def test_a_path_object_is_a_sqlite_file(tmp_path: Path) -> None:
    # A pathlib.Path names a file, as nothing else can: no URL parsing, so "?" and "#" stay in the name.
    path = tmp_path / "odd ?name#.db"
    with Database(path) as db:
        assert (db.dialect, db.url.database) == ("sqlite", str(path))
        db.migrate_in_child()
        assert db.current_revision() == HEAD_REVISION
    assert path.is_file()
    with Database(Path("pushgate.db")) as relative:
        assert relative.url.database == "pushgate.db"


def test_head_revision_names_the_newest_script() -> None:
    from alembic.script import ScriptDirectory

    from pushgate.registry.db import alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_migrate_in_child_upgrades_without_loading_alembic_here(empty_database_url: str) -> None:
    # A fresh interpreter, so the test process's own imports do not count.
    probe = (
        "import sys; from pushgate.registry import Database; db = Database(sys.stdin.read());"
        "db.migrate_in_child(); db.migrate_in_child(); print(db.current_revision());"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    child = subprocess.run([sys.executable, "-c", probe], input=empty_database_url,
                           capture_output=True, text=True, check=True)
    assert child.stdout.split("\n")[:2] == [HEAD_REVISION, "[]"]
    with Database(empty_database_url) as db:
        assert db.current_revision() == HEAD_REVISION


def test_migrate_in_child_reports_a_failed_upgrade(tmp_path: Path) -> None:
    with Database(f"sqlite:///{tmp_path / 'odd.db'}") as db:
        with db.connect() as connection:
            connection.execute(sa.text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32))"))
            connection.execute(sa.text(f"INSERT INTO {VERSION_TABLE} VALUES ('9999')"))
        with pytest.raises(ConfigurationError, match=r"database migration failed: .*9999"):
            db.migrate_in_child()
