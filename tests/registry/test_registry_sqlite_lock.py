"""SQLite's write lock is taken by looking every millisecond (registry/sqlite_lock.py).

SQLite's own busy handler sleeps up to 100 ms between its tries; a waiter
for ``BEGIN IMMEDIATE`` instead tries again at the driver level, so while
another connection holds the lock the waiter's statement trace shows one
``BEGIN IMMEDIATE`` after another. The holder below lets go only once it
has seen three of them: with SQLite's handler alone there is one, and the
holder's wait runs out.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from pushgate.queue.sql_claim import _write_transaction
from pushgate.registry import Database
from pushgate.registry.sqlite_lock import begin_immediate, is_busy

HOLD_UP_TO = 10.0  # seconds the holder waits for the waiter's tries before it gives up


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


class Tries:
    """Counts a connection's ``BEGIN IMMEDIATE`` statements; ``enough`` is set at ``wanted``."""

    def __init__(self, wanted: int = 3) -> None:
        self.count = 0
        self.wanted = wanted
        self.enough = threading.Event()

    def __call__(self, statement: str) -> None:
        if statement.strip().upper() == "BEGIN IMMEDIATE":
            self.count += 1
            if self.count >= self.wanted:
                self.enough.set()


def _hold_until(holder: sqlite3.Connection, tries: Tries, seen: list[bool]) -> None:
    seen.append(tries.enough.wait(HOLD_UP_TO))
    holder.execute("COMMIT")


def test_a_waiter_tries_again_while_the_lock_is_held_and_gets_it_once_free(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    holder, waiter = _connect(path), _connect(path)
    tries = Tries()
    waiter.set_trace_callback(tries)
    holder.execute("BEGIN IMMEDIATE")
    seen: list[bool] = []
    releaser = threading.Thread(target=_hold_until, args=(holder, tries, seen))
    releaser.start()
    begin_immediate(waiter, busy_timeout=30.0)
    releaser.join()
    assert seen == [True], "the waiter left the waiting to SQLite's busy handler"
    assert waiter.in_transaction
    waiter.execute("COMMIT")
    # Every other statement keeps the connection's full busy timeout.
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (30_000,)


def test_the_wait_ends_with_sqlite_busy_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    holder, waiter = _connect(path), _connect(path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError) as raised:
            begin_immediate(waiter, busy_timeout=0.05)
        assert is_busy(raised.value)
        assert not waiter.in_transaction
        assert waiter.execute("PRAGMA busy_timeout").fetchone() == (50,)
    finally:
        holder.execute("COMMIT")


def test_an_error_other_than_busy_is_raised_at_once(tmp_path: Path) -> None:
    waiter = _connect(tmp_path / "lock.db")
    tries = Tries()
    waiter.execute("BEGIN")
    waiter.set_trace_callback(tries)
    with pytest.raises(sqlite3.OperationalError, match="within a transaction") as raised:
        begin_immediate(waiter, busy_timeout=30.0)
    assert not is_busy(raised.value)
    assert tries.count == 1


@pytest.mark.parametrize("via", ["session", "claim transaction"])
def test_the_registry_write_paths_look_every_millisecond(tmp_path: Path, via: str) -> None:
    """The ORM's write sessions and the queue's claim transaction (raw cursor) take the same path."""
    path = tmp_path / "registry.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
        holder = _connect(path)
        tries = Tries()
        holder.execute("BEGIN IMMEDIATE")
        seen: list[bool] = []
        releaser = threading.Thread(target=_hold_until, args=(holder, tries, seen))
        connection = db.engine.raw_connection()
        try:
            connection.driver_connection.set_trace_callback(tries)  # type: ignore[union-attr]
            connection.close()  # back to the pool (LIFO): the write below takes it again
            releaser.start()
            if via == "session":
                with db.session() as session:
                    session.execute(text("INSERT INTO t VALUES (1)"))
            else:
                with _write_transaction(db) as cursor:
                    cursor.execute("INSERT INTO t VALUES (1)")
        finally:
            releaser.join()
        assert seen == [True]
        with db.session(write=False) as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    finally:
        db.engine.dispose()
