"""FCM topic subscription operations: stored when accepted, finished by a worker.

A ``POST /v1/topics/{topic}/subscribe`` (or ``unsubscribe``) resolves its
tokens when accepted (a list of users becomes their active FCM devices'
tokens, so the operation acts on what the registry held then) and is stored
with its queue job in one transaction; the worker records the counts and the
per-token errors (at most :data:`MAX_SHOWN_ERRORS`, tokens shortened).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pushgate.registry.constants import MAX_TARGET_LIST, ProviderName
from pushgate.registry.models import Device, TopicOperation, User, utcnow

MAX_SHOWN_ERRORS = 100  # per-token errors kept; the failure count says how many in all
QUEUED, DONE, FAILED = "queued", "done", "failed"


def active_fcm_tokens(session: Session, app_id: int, users: Sequence[str]) -> list[str]:
    """The tokens of the active FCM devices of these users (the app's user ids)."""
    tokens: list[str] = []
    for start in range(0, len(users), MAX_TARGET_LIST):
        tokens += session.scalars(
            select(Device.token).join(User, User.id == Device.user_id)
            .where(Device.app_id == app_id, Device.provider == ProviderName.FCM.value,
                   Device.active.is_(True), User.external_id.in_(users[start:start + MAX_TARGET_LIST]))
            .order_by(Device.id)
        ).all()
    return list(dict.fromkeys(tokens))


def create_topic_operation(
    session: Session, app_id: int, topic: str, action: str, tokens: Sequence[str], *,
    now: datetime | None = None,
) -> TopicOperation:
    operation = TopicOperation(
        id=str(uuid.uuid4()), app_id=app_id, topic=topic, action=action, status=QUEUED, tokens=list(tokens),
        requested=len(tokens), succeeded=0, failed=0, created_at=now or utcnow(),
    )
    session.add(operation)
    session.flush()
    return operation


def get_topic_operation(
    session: Session, operation_id: str, *, app_id: int | None = None
) -> TopicOperation | None:
    operation = session.get(TopicOperation, operation_id)
    if operation is None or (app_id is not None and operation.app_id != app_id):
        return None
    return operation


def finish_topic_operation(
    session: Session,
    operation_id: str,
    *,
    succeeded: int = 0,
    failed: int = 0,
    errors: Sequence[dict[str, Any]] = (),
    error: str | None = None,
) -> None:
    """Record the result once (a re-run after a crash finds it finished and changes nothing)."""
    session.execute(
        update(TopicOperation)
        .where(TopicOperation.id == operation_id, TopicOperation.status == QUEUED)
        .values(status=FAILED if error is not None else DONE, succeeded=succeeded, failed=failed,
                errors=list(errors)[:MAX_SHOWN_ERRORS], error=error[:200] if error else None,
                tokens=[], finished_at=utcnow())
    )


__all__ = [
    "MAX_SHOWN_ERRORS",
    "active_fcm_tokens",
    "create_topic_operation",
    "finish_topic_operation",
    "get_topic_operation",
]
