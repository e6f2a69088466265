"""The database: one engine, sessions and connections, and migrations.

One :class:`Database` per process wraps a SQLAlchemy engine for either

- a SQLite file (the embedded default, ``sqlite:///pushgate.db``), tuned for
  several threads and processes on one file: WAL journal (readers never wait
  for the writer), ``synchronous=NORMAL`` (a commit survives ``kill -9``;
  use ``synchronous="FULL"`` to also survive power loss), a busy timeout,
  foreign keys on and a 32 MB page cache per connection; or
- PostgreSQL (``postgresql+psycopg://…``; a bare ``postgresql://`` URL is
  given the psycopg 3 driver).

SQLite write transactions start with ``BEGIN IMMEDIATE``: a deferred
transaction that reads and then writes can fail at once with SQLITE_BUSY
when another connection wrote in between, whatever the busy timeout;
taking the write lock up front makes writers queue on the busy timeout
instead. Read-only work (``write=False``) starts a plain deferred
transaction and never waits for writers.

The migration scripts ship inside the package (``registry/migrations``) and
run programmatically: ``Database(url).migrate()`` is all a deployment needs,
no ``alembic.ini``. A long-running process migrates with
``migrate_in_child()``: the same upgrade, run by a short-lived child so that
Alembic, Mako and the scripts (~10 MB) never enter the server's memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event, inspect, make_url, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from pushgate.errors import ConfigurationError
from pushgate.registry.migrations import HEAD_REVISION
from pushgate.registry.partial_indexes import use_postgresql
from pushgate.registry.sqlite_lock import begin_immediate
from pushgate.service.settings import database_url_problem

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///pushgate.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Our own version table, so pushgate can share a PostgreSQL database with an
# application that uses Alembic itself.
VERSION_TABLE = "pushgate_schema_version"
# pg_advisory_xact_lock key serialising concurrent migrate() calls (server and
# workers starting at once). Any constant works; this is "pushgate" in ASCII.
MIGRATION_LOCK_KEY = 0x70757368676174
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for the write lock
# Page cache per connection. SQLite's default (2 MB) is far smaller than the
# device indexes of a large registry, whose random inserts then hit the disk.
SQLITE_CACHE_MB = 32
_BEGIN_OPTION = "pushgate_sqlite_begin"
_MIGRATE_CHILD = "import sys; from pushgate.registry.db import Database; Database(sys.stdin.read()).migrate()"

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


class Database:
    """An engine plus the session and connection factories the registry uses.

    Thread-safe: share one instance; every call checks a connection out of
    the pool. ``with Database(url) as db:`` disposes the pool at the end.
    ``url`` is a URL (str or SQLAlchemy ``URL``) or a path object
    (``Path("pushgate.db")``), which names a SQLite file.
    """

    def __init__(
        self,
        url: str | URL | PathLike[str] = DEFAULT_URL,
        *,
        busy_timeout: float = SQLITE_BUSY_TIMEOUT,
        synchronous: Synchronous = "NORMAL",
        sqlite_cache_mb: int = SQLITE_CACHE_MB,
        pool_size: int = 10,
        echo: bool = False,
    ) -> None:
        self.url = _normalize_url(url)
        self.busy_timeout = busy_timeout  # SQLite: seconds a writer waits for the write lock
        # LIFO: the most recently used connection (with the warmest page cache) goes out first.
        # hide_parameters: a statement's parameters (device tokens, credentials) never appear in
        # SQLAlchemy's error messages or echo logs; the driver's own message may still name
        # values, which registry.safe_errors keeps out of logs.
        options: dict[str, Any] = {
            "echo": echo, "pool_size": pool_size, "max_overflow": 2 * pool_size, "pool_use_lifo": True,
            "hide_parameters": True,
        }
        if self.is_sqlite:
            options["connect_args"] = {"timeout": busy_timeout}
        else:
            use_postgresql()  # the models' PostgreSQL-only index options (registry/partial_indexes.py)
            options["pool_pre_ping"] = True
            # psycopg prepares a statement on its 5th run; PostgreSQL may then keep a
            # generic plan made while a table was small (a bulk import slowed from
            # 5,000 to 200 rows/s on a sequential scan). Custom plans keep the parse
            # savings of prepared statements and plan with the current sizes.
            # No JIT: it compiles any statement estimated above jit_above_cost, which pays
            # only for long analytical queries (https://www.postgresql.org/docs/current/jit-decision.html).
            # pushgate's are short and frequent; an event batch's device lookup, estimated that
            # high from the statistics of a table still small at its last ANALYZE, spent 29 of
            # its 33 ms compiling.
            options["connect_args"] = {"options": "-c plan_cache_mode=force_custom_plan -c jit=off"}
        self.engine: Engine = create_engine(self.url, **options)
        if self.is_sqlite:
            _tune_sqlite(self.engine, busy_timeout=busy_timeout, synchronous=synchronous,
                         cache_mb=sqlite_cache_mb)
        self._write_engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """An ORM session in one transaction: committed on success, rolled back on error.

        Objects stay usable after the block (``expire_on_commit=False``).
        """
        maker = self._write_sessions if write else self._read_sessions
        with maker.begin() as session:
            yield session

    @contextmanager
    def connect(self, *, write: bool = True) -> Iterator[Connection]:
        """A Core connection in one transaction, for the hot paths."""
        engine = self._write_engine if write else self.engine
        with engine.begin() as connection:
            yield connection

    @contextmanager
    def connection(self, *, write: bool = True) -> Iterator[Connection]:
        """A Core connection held for several transactions (``with connection.begin():``), for bulk
        work that keeps per-connection settings between them (see registry/bulk_sql.py)."""
        engine = self._write_engine if write else self.engine
        with engine.connect() as connection:
            yield connection

    # Alembic (with Mako and Pygments) is imported only when a migration runs:
    # it is ~10 MB that a running server or worker does not need.

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (idempotent; safe to race)."""
        if revision == "head" and self.current_revision() == HEAD_REVISION:
            return  # current already (the usual start-up): nothing to lock or load
        from alembic import command

        with self.connect() as connection:
            if self.is_postgresql:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def migrate_in_child(self) -> None:
        """Upgrade to head in a child process when the schema is not current.

        The child imports Alembic, upgrades and exits, so its memory goes with
        it. The URL goes over stdin, where no process listing shows a password.
        """
        if self.current_revision() == HEAD_REVISION:
            return
        child = subprocess.run(
            [sys.executable, "-c", _MIGRATE_CHILD], input=self.url.render_as_string(hide_password=False),
            capture_output=True, text=True, check=False,
        )
        if child.returncode != 0:
            detail = child.stderr.strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
            raise ConfigurationError(f"database migration failed: {detail[0]}")

    def downgrade(self, revision: str = "base") -> None:
        """Downgrade the schema (development and tests)."""
        from alembic import command

        with self.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)

    def current_revision(self) -> str | None:
        """The schema revision the database is at (None: never migrated).

        Read from the version table directly rather than through Alembic's
        migration context: readiness probes call it, and it needs no Alembic.
        Raises when the database cannot be reached.
        """
        with self.connect(write=False) as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            revision = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
            return str(revision) if revision is not None else None

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration without an ini file.

    For development: ``command.revision(alembic_config(url), autogenerate=True,
    message="…")`` writes a new script into ``registry/migrations/versions``.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    return config


def insert_ignoring(connection: Connection, table: Table, conflict_columns: Sequence[str]) -> Insert:
    """``INSERT … ON CONFLICT (cols) DO NOTHING`` in the connection's dialect.

    The building block of idempotent writes (enqueue by job id, one
    delivery row per device and send, concurrent user creation).
    """
    if connection.dialect.name == "postgresql":
        # Imported here: an SQLite process never loads SQLAlchemy's PostgreSQL dialect (2 MB).
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))


def placeholders(connection: Connection, count: int) -> str:
    """``count`` positional parameter markers in the driver's style, for raw hot-path SQL.

    The hot paths (delivery outcomes, chunk loads) run tens of thousands of
    rows per second; at that rate SQLAlchemy's per-row parameter
    processing costs more than the database. They hand plain tuples to the
    driver's ``executemany`` through ``exec_driver_sql`` instead.
    """
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    return ", ".join([marker] * count)


def _normalize_url(url: str | URL | PathLike[str]) -> URL:
    if isinstance(url, PathLike):
        # A path object can only mean a file: built as a URL, not parsed as one, so a "?"
        # or "#" in the name stays in it. A str stays a URL (database_url_problem).
        url = URL.create("sqlite", database=os.fspath(url))
    if isinstance(url, str):
        problem = database_url_problem(url)
        if problem is not None:  # a path, not a URL: said as the database_url setting says it
            raise ConfigurationError(problem)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgres":  # the spelling Heroku and libpq tools print; SQLAlchemy 1.4+ refuses it
        parsed = parsed.set(drivername="postgresql" + parsed.drivername[len("postgres"):])
        backend = "postgresql"
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigurationError(
                "an in-memory SQLite database cannot be shared by the server's threads; "
                "use a file, e.g. sqlite:///pushgate.db"
            )
    elif backend != "postgresql":
        raise ConfigurationError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed


def _tune_sqlite(engine: Engine, *, busy_timeout: float, synchronous: Synchronous, cache_mb: int) -> None:
    """Pragmas per connection, and transactions begun by us rather than the driver.

    The sqlite3 module's own transaction handling issues a deferred BEGIN
    before the first write; switching it off (``isolation_level = None``)
    and emitting BEGIN in the ``begin`` event is SQLAlchemy's documented
    recipe, and lets write transactions say IMMEDIATE.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA cache_size={-1024 * cache_mb}")  # negative: KiB
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_BEGIN_OPTION) != "IMMEDIATE":
            connection.exec_driver_sql("BEGIN DEFERRED")
            return
        driver = connection.connection.driver_connection
        if driver is None:  # SQLAlchemy hands a begin event a live connection; never seen
            raise RuntimeError("a SQLite transaction began without a driver connection")
        begin_immediate(driver, busy_timeout)  # registry/sqlite_lock.py
