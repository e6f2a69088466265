"""Accepting an FCM topic subscription operation: validated, resolved, stored with its job.

Like a send (:mod:`pushgate.service.submit`), the 202 means it is durable:
the operation row and its queue job commit in one transaction, and a worker
calls FCM's Instance ID API (``subscribe_to_topic`` / ``unsubscribe_from_topic``,
batches of 1000: docs/protocols/fcm.md; firebase.google.com/docs/cloud-messaging/manage-topics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pushgate.planner.jobs import TOPICS_QUEUE, topic_operation_job
from pushgate.queue import Queue
from pushgate.registry import Database, ProviderName, ValidationError, list_credentials
from pushgate.registry.constants import MAX_TARGET_LIST
from pushgate.registry.targets import Target
from pushgate.registry.topic_ops import active_fcm_tokens, create_topic_operation
from pushgate.service.settings import Settings

ACTIONS = ("subscribe", "unsubscribe")


def submit_topic_operation(
    db: Database,
    queue: Queue,
    settings: Settings,
    app_id: int,
    topic: str,
    action: str,
    *,
    tokens: Sequence[str] | None = None,
    users: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Store the operation and its job; the answer names its id.

    :raises ValidationError: a bad topic, not exactly one of tokens/users, no FCM credentials.
    """
    if action not in ACTIONS:
        raise ValidationError("action", f"one of {', '.join(ACTIONS)}")
    try:
        name = Target.parse({"topic": topic}).values[0]  # FCM's topic-name rule, /topics/ dropped
    except ValidationError as exc:
        raise ValidationError("topic", exc.message) from None
    if (tokens is None) == (users is None):
        raise ValidationError("tokens", "give exactly one of tokens or users")
    field = "tokens" if tokens is not None else "users"
    given = list(tokens if tokens is not None else users or [])
    if not given or len(given) > MAX_TARGET_LIST:
        raise ValidationError(field, f"1 to {MAX_TARGET_LIST} entries")
    if not all(isinstance(item, str) and item for item in given):
        raise ValidationError(field, "entries must be non-empty strings")
    with db.session() as session:
        if ProviderName.FCM.value not in {row.provider for row in list_credentials(session, app_id)}:
            raise ValidationError("topic", "the app has no FCM credentials")
        resolved = (list(dict.fromkeys(given)) if tokens is not None
                    else active_fcm_tokens(session, app_id, given))
        operation = create_topic_operation(session, app_id, name, action, resolved)
        answer = {"id": operation.id, "topic": name, "action": action, "status": operation.status,
                  "requested": len(resolved)}
        queue.enqueue_with(session, [topic_operation_job(operation.id, max_tries=settings.max_tries)])
    return answer


__all__ = ["ACTIONS", "TOPICS_QUEUE", "submit_topic_operation"]
