"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings

from pushgate.queue.tables import jobs_table
from pushgate.registry import Database
from pushgate.registry.models import Base
from pushgate.simulators.tls import LocalCA

# CI runs the property tests derandomized (the same examples on every run, so a red
# build is a regression, not a new draw) and prints the blob that reproduces a failure;
# exploring new examples is for local runs.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow run first, in their order, the others after them in theirs.

    Spread over processes a file at a time (scripts/test), the long proofs (the
    scale-out proof takes eight minutes) then start at once, beside the rest,
    instead of being handed out last and making the run's tail.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def local_ca() -> Iterator[LocalCA]:
    """One throwaway CA for the whole run (key generation is the slow part)."""
    ca = LocalCA.create()
    yield ca
    ca.cleanup()


# --- Databases: every registry, queue and planner test runs on SQLite and PostgreSQL ---

POSTGRES_URL = os.environ.get(
    "PUSHGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[sa.Engine]:
    """An autocommit engine on the PostgreSQL server, to create throwaway databases.

    Unreachable: the PostgreSQL tests are skipped on a developer machine, and
    fail in CI (CI set), where PostgreSQL is part of the contract.
    """
    engine = sa.create_engine(
        Database(POSTGRES_URL).url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_databases(postgres_admin: sa.Engine) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases (dropped at the end of the run)."""
    created: list[str] = []

    def create() -> str:
        name = f"pushgate_test_{os.getpid()}_{secrets.token_hex(4)}"
        with postgres_admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return Database(POSTGRES_URL).url.set(database=name).render_as_string(hide_password=False)

    yield create
    with postgres_admin.connect() as connection:
        for name in created:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_migrated(postgres_databases: Callable[[], str]) -> str:
    """One migrated PostgreSQL database for the run; each test starts with it truncated."""
    url = postgres_databases()
    with Database(url) as db:
        db.migrate()
    return url


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (cheaper than migrating per test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    with Database(f"sqlite:///{path}") as db:
        db.migrate()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty registry database: a real SQLite file, or real PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "pushgate.db"
        shutil.copyfile(request.getfixturevalue("sqlite_migrated"), path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("postgres_migrated"))
        assert jobs_table.metadata is Base.metadata  # the queue's table is truncated with the rest
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with db.connect() as connection:
            connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a database with no tables at all (for migration tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    factory: Callable[[], str] = request.getfixturevalue("postgres_databases")
    return factory()
