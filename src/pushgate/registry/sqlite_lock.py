"""Taking SQLite's write lock by looking every millisecond, not with SQLite's growing sleeps.

A write transaction on SQLite starts with ``BEGIN IMMEDIATE`` (registry/db.py),
which waits for the one write lock of the file. SQLite's own busy handler
(``sqlite3_busy_timeout``, https://www.sqlite.org/c3ref/busy_timeout.html)
sleeps between its tries for 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and
then 100 ms each (``sqliteDefaultBusyCallback`` in SQLite's ``main.c``):
it is built for a lock that is rarely taken. A broadcast keeps the lock
taken most of the time in short transactions (its outcomes are committed
every few milliseconds), so a waiter that missed a few of the gaps between
them sleeps 50 to 100 ms at a time while the lock is free for most of it. A
login code sent during a broadcast crosses four write transactions (the
API's, the claim of its job, its outcome, the job's completion), and
waited hundreds of milliseconds in those sleeps (bench scenario 9).

:func:`begin_immediate` instead lets SQLite wait at most
``LOCK_LOOK_MS`` (its first two tries, 1 ms apart) and tries again itself
until the connection's busy timeout has passed, so a waiter looks every
millisecond for as long as it waits. Every other statement keeps the full
busy timeout: a reader in WAL mode may meet a lock for a moment (while
another connection recovers or checkpoints the log), and waiting is right
there. The two ``PRAGMA busy_timeout`` statements cost about 2 µs per
write transaction.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Protocol

LOCK_LOOK_MS = 2  # SQLite's handler tries at 0, 1 and 2 ms, then hands the wait back to us


class Executes(Protocol):
    """A driver connection or cursor of the sqlite3 module."""

    def execute(self, sql: str, /) -> object: ...


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or one of its extended codes: another connection holds the lock."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


def begin_immediate(driver: Executes, busy_timeout: float) -> None:
    """``BEGIN IMMEDIATE`` on ``driver``, waiting up to ``busy_timeout`` seconds for the lock."""
    driver.execute(f"PRAGMA busy_timeout={LOCK_LOOK_MS}")
    try:
        deadline = 0.0
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                now = time.monotonic()
                if not deadline:
                    deadline = now + max(0.0, busy_timeout - LOCK_LOOK_MS / 1000)
                if now >= deadline:
                    raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")


__all__ = ["LOCK_LOOK_MS", "begin_immediate", "is_busy"]
