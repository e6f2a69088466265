"""Alembic environment, configured from code rather than an ini file.

``Database.migrate()`` passes its open connection in
``config.attributes["connection"]``: the migration runs inside that
transaction (under PostgreSQL's advisory lock). Without one (the ``alembic``
command line, ``alembic_config(url)``), a connection is opened from
``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

# The embedded queue's table shares the registry's metadata and migration history;
# importing it is what puts it on Base.metadata.
from pushgate.queue import tables as _queue_tables  # noqa: F401
from pushgate.registry.db import VERSION_TABLE, Database
from pushgate.registry.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, e.g. alembic_config(url)")
    database = Database(url)
    try:
        with database.connect() as opened:
            _run(opened)
    finally:
        database.dispose()
