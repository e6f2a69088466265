"""An event batch looks its users and their devices up by key on PostgreSQL, whatever the statistics.

The lookups run once per batch of events (2,000 by default), so a plan that reads
every user or device of the app instead costs the app's size per batch: with the
statistics of a table that was small when last analyzed the planner filtered all of
the app's devices, and with fresh ones it scanned all of its users.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection

from pushgate.registry import Database, create_app, import_devices
from pushgate.registry.catalog import decide
from tests.pg_plans import rows_read

pytestmark = pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

USERS = 3_000


def test_a_batch_reads_only_its_own_users_and_devices(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database.session() as session:
        app, _ = create_app(session, "shop")
    for start in range(0, USERS, 750):  # imports too small to refresh the statistics
        import_devices(database, app.id, (
            {"provider": "fcm", "token": f"fcm-token-{i:030d}", "user": f"user-{i}"}
            for i in range(start, start + 750)))
    wanted = [f"user-{i}" for i in range(100, 200)]
    plans: list[dict[str, Any]] = []

    run = Connection.exec_driver_sql  # the class's: the test wraps the connection's own below

    def explaining(connection: Connection, sql: str, params: Any) -> Any:
        plans.append(run(connection, "EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).scalar_one()[0]["Plan"])
        return run(connection, sql, params)

    for statistics in ("as the imports left them", "fresh"):
        if statistics == "fresh":
            with database.connect() as connection:
                connection.exec_driver_sql("ANALYZE users, devices")
        plans.clear()
        with database.connect(write=False) as connection:
            monkeypatch.setattr(connection, "exec_driver_sql",
                                lambda sql, params=None, c=connection: explaining(c, sql, params))
            users = decide.find_users(connection, app.id, wanted)
            devices = decide.active_devices(connection, app.id, [user.id for user in users.values()])
        assert sorted(users) == sorted(wanted)
        assert len(devices) == len(wanted)
        users_plan, devices_plan = plans
        assert rows_read(users_plan, "users") == len(wanted), statistics
        assert rows_read(devices_plan, "devices") == len(wanted), statistics


def test_postgresql_connections_plan_without_jit(database: Database) -> None:
    # JIT compiles any statement whose estimated cost passes jit_above_cost; an event batch's
    # device lookup, planned with the statistics of a table still small at its last ANALYZE,
    # was estimated that high and spent 29 of its 33 ms compiling (3.5 ms without JIT).
    with database.connect(write=False) as connection:
        assert connection.exec_driver_sql("SHOW jit").scalar_one() == "off"
