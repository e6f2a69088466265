"""Work that waits for a session's outermost commit, and is dropped if it rolls back.

Both queues act once the jobs an API transaction wrote are committed: the SQL
queue on PostgreSQL tells its notifier which queues have work
(:mod:`pushgate.queue.sql_notify`), the Redis queue moves the transaction's
outbox rows into Redis (:mod:`pushgate.queue.outbox`). SQLAlchemy fires a
session's ``after_commit`` also when a savepoint (``begin_nested``) is
released, while the outer transaction still holds the rows uncommitted, so a
listener of that event alone acts too early: the outbox would find nothing to
move, and leave the rows to its background pass.

The actions wait in ``session.info`` and are read by two listeners of the
``Session`` class, not of each session, so a session reused for many
transactions gathers none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

__all__ = ["at_commit"]

logger = logging.getLogger("pushgate.queue")

_PENDING = "pushgate.at_commit"  # the session.info key: {key: action}


def at_commit(session: Session, key: Hashable, action: Callable[[], None]) -> None:
    """Run ``action()`` once ``session``'s outermost transaction commits; never if it rolls back.

    One action per ``key`` and transaction (the first registered is kept), so callers
    coalesce: the notifier is told of a queue once however many jobs went to it.
    """
    pending: dict[Hashable, Callable[[], None]] = session.info.setdefault(_PENDING, {})
    pending.setdefault(key, action)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if _PENDING in session.info and not session.in_nested_transaction():
        for action in session.info.pop(_PENDING).values():
            try:
                action()
            except Exception:  # one action's failure must not keep the others from running
                logger.exception("an action after the commit failed")


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outer transaction ended: if actions are still here it did not commit (a rollback,
    # or the session closed mid-transaction). A savepoint's end leaves them to the outer one.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
