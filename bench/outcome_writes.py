"""CPU per outcome batch: the registry's session path against the sender's outcome writer.

    python bench/outcome_writes.py [--postgres-url URL] [--batches 300] [--rounds 3] [--webhooks N]

Why: how often a worker may commit outcomes decides how much a ``kill -9``
re-sends (every device whose outcome is not durable yet is sent again), and
what a commit costs decides how often it can afford to. This measures one
transaction of N outcomes (one send, all ``sent``) both ways on a real
SQLite file (WAL, synchronous=NORMAL, as the server runs it) and, given a
URL, a fresh PostgreSQL database: ``record_outcomes`` in a
``Database.session()`` (what the recorder did before) and
``OutcomeWriter.write`` (what it does now). The figure is the minimum over
``--rounds`` of CPU microseconds per transaction and per outcome.
``--webhooks N`` gives the app N enabled delivery webhooks, so each
transaction also appends the outcomes' webhook events (docs/webhooks.md §2);
with 0 it pays only the capture statement that finds no webhook.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from pushgate.registry import Database, DeliveryStatus, Outcome, create_app, create_send, record_outcomes
from pushgate.registry.credential_cipher import CredentialCipher
from pushgate.registry.outcome_writer import OutcomeWriter
from pushgate.registry.webhooks import create_webhook

SIZES = (10, 25, 50, 100, 250)
WIDTHS = (9, 11, 10, 19, 18)


def _prepare(db: Database, webhooks: int) -> str:
    db.migrate()
    with db.session() as session:
        app, _ = create_app(session, f"bench-{secrets.token_hex(4)}")
        for n in range(webhooks):
            create_webhook(session, app.id, f"https://hooks{n}.example.com/in", events=None, enabled=True,
                           cipher=CredentialCipher(None))
        return create_send(session, app.id, {"title": "t"}, {"all": True}).id


def _measure(write: Callable[[list[Outcome]], None], size: int, batches: int, start: int) -> float:
    """CPU seconds per transaction of ``size`` outcomes."""
    outcomes = [
        [Outcome(start + b * size + i, DeliveryStatus.SENT, None, "m" * 36) for i in range(size)]
        for b in range(batches)
    ]
    began = time.process_time()
    for batch in outcomes:
        write(batch)
    return (time.process_time() - began) / batches


def run(db: Database, label: str, batches: int, rounds: int, webhooks: int = 0) -> None:
    send_id = _prepare(db, webhooks)
    writer = OutcomeWriter(db)

    def by_session(batch: list[Outcome]) -> None:
        with db.session() as session:
            record_outcomes(session, send_id, "apns", batch)

    def by_writer(batch: list[Outcome]) -> None:
        writer.write({(send_id, "apns"): batch})

    device = 1
    print(f"\n{label}, {webhooks} webhooks: CPU per transaction (best of {rounds} x {batches})")
    header = ("outcomes", "session µs", "writer µs", "session µs/outcome", "writer µs/outcome")
    print(" ".join(f"{text:>{width}}" for text, width in zip(header, WIDTHS, strict=True)))
    for size in SIZES:
        best = {"session": float("inf"), "writer": float("inf")}
        for _ in range(rounds):
            for name, write in (("session", by_session), ("writer", by_writer)):
                best[name] = min(best[name], _measure(write, size, batches, device))
                device += size * batches
        s, w = best["session"] * 1e6, best["writer"] * 1e6
        print(f"{size:>9} {s:>11.0f} {w:>10.0f} {s / size:>19.1f} {w / size:>18.1f}")
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", help="admin URL; a fresh database is created and dropped")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--webhooks", type=int, default=0, help="enabled webhooks of the app (default 0)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Database(f"sqlite:///{Path(folder) / 'b.db'}") as db:
        run(db, "SQLite", args.batches, args.rounds, args.webhooks)
    if args.postgres_url:
        admin = sa.create_engine(Database(args.postgres_url).url, isolation_level="AUTOCOMMIT")
        name = f"pushgate_bench_{secrets.token_hex(4)}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            with Database(Database(args.postgres_url).url.set(database=name)) as db:
                run(db, "PostgreSQL", args.batches, args.rounds, args.webhooks)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
