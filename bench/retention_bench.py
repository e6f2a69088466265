"""Database size over a week of daily broadcasts, with and without delivery retention.

    python bench/retention_bench.py [--devices 100000] [--days 7] [--keep-days 2]

Why: every send adds one delivery row per device. This records a daily
broadcast to ``--devices`` devices for ``--days`` days on a real SQLite file
(outcomes written in batches of 1,000 through the registry, each day's
send finished that day), then applies retention the way the workers'
housekeeping does at the end of each day (``registry.retention``, batches of
5,000 rows), once with the default 30 days (a week keeps everything) and
once keeping ``--keep-days``. It prints, per day, the delivery rows, the
database's live size (pages in use; SQLite reuses freed pages rather than
shrinking the file) and the file size, and the purge rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from pushgate.registry import Database, DeliveryStatus, Outcome, create_app, create_send, record_outcomes
from pushgate.registry.models import sends_table
from pushgate.registry.retention import prune_inactive_devices, purge_deliveries

DAY0 = datetime(2031, 1, 1, 9, 0, tzinfo=UTC)
BATCH = 1000
WIDTHS = (4, 14, 8, 8, 9, 13)


def broadcast(db: Database, app_id: int, devices: int, day: datetime) -> None:
    with db.session() as session:
        send_id = create_send(session, app_id, {"title": "Daily"}, {"all": True}, now=day).id
    for start in range(1, devices + 1, BATCH):
        outcomes = [Outcome(i, DeliveryStatus.SENT, None, f"{i:036d}") for i in range(start, start + BATCH)]
        with db.session() as session:
            record_outcomes(session, send_id, "apns", outcomes, now=day)
    with db.connect() as connection:
        connection.execute(sa.update(sends_table).where(sends_table.c.id == send_id).values(
            status="done", targeted=devices, finished_at=day + timedelta(minutes=1)))


def sizes(db: Database, path: Path) -> tuple[int, float, float]:
    with db.connect(write=False) as connection:
        rows = int(connection.execute(sa.text("SELECT count(*) FROM deliveries")).scalar_one())
    raw = db.engine.raw_connection()  # outside a transaction: a checkpoint cannot run inside one
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = cursor.execute("PRAGMA page_size").fetchone()[0]
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        free = cursor.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        raw.close()
    return rows, (pages - free) * page / 1e6, path.stat().st_size / 1e6


def run(devices: int, days: int, keep_days: float) -> None:
    print(f"\n{days} daily broadcasts to {devices:,} devices, deliveries kept {keep_days:g} days")
    header = ("day", "delivery rows", "live MB", "file MB", "purged", "purge rows/s")
    print(" ".join(f"{text:>{width}}" for text, width in zip(header, WIDTHS, strict=True)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "retention.db"
        with Database(f"sqlite:///{path}") as db:
            db.migrate()
            with db.session() as session:
                app_id = create_app(session, "daily")[0].id
            for n in range(days):
                day = DAY0 + timedelta(days=n)
                broadcast(db, app_id, devices, day)
                end_of_day = day + timedelta(hours=14)
                began, purged = time.perf_counter(), 0
                while count := purge_deliveries(db, finished_before=end_of_day - timedelta(days=keep_days)):
                    purged += count
                prune_inactive_devices(db, inactive_before=end_of_day - timedelta(days=90))
                took = time.perf_counter() - began
                rows, live, size = sizes(db, path)
                rate = f"{purged / took:,.0f}" if purged else "—"
                print(f"{n + 1:>4} {rows:>14,} {live:>8.1f} {size:>8.1f} {purged:>9,} {rate:>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--keep-days", type=float, default=2.0)
    args = parser.parse_args()
    run(args.devices, args.days, 30.0)
    run(args.devices, args.days, args.keep_days)


if __name__ == "__main__":
    main()
