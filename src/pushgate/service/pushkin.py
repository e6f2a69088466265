"""Pushkin requests through pushgate's own paths: notifications become sends, events go to the event service.

**Notifications.** Each Pushkin notification is one send to the devices of
one user (external id = the decimal ``login_id``), submitted by
:func:`pushgate.service.submit.submit_send` like ``POST /v1/sends``: stored
with its fan-out job in one transaction before the answer. Before the first
one, the batch is admitted as a whole (``max_direct_queue_depth``, counting
every notification as one delivery), so an overloaded server answers 503
with ``Retry-After`` with nothing stored — a client that retries the batch
sends nothing twice. Pushkin answered 503 too when its request queue was
full, but dropped notifications silently once its sender queues were.

A notification the send path refuses (an empty one, a payload too large)
is reported with its index; the rest are sent. If the queue fills while a
batch is being stored (other requests raced it), the notifications not yet
stored are reported as ``overloaded``; a batch with none stored is a 503.

**Queue depths** for Pushkin's monitoring routes come from the durable
queue: the request queue is the fan-out queue (sends not yet turned into
deliveries), the APN and GCM sender queues are the deliveries waiting in
the APNs and FCM lanes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from pushgate.errors import Backpressure, PermanentError
from pushgate.planner.jobs import FANOUT_QUEUE
from pushgate.pushkin.mapping import notification_for, user_external_id
from pushgate.pushkin.requests import ItemError, Parsed, PushkinNotification
from pushgate.queue import Queue
from pushgate.registry import Database
from pushgate.registry.pushkin_apps import get_pushkin_settings
from pushgate.service.admission import admit
from pushgate.service.provider_limits import provider_depths
from pushgate.service.settings import Settings
from pushgate.service.submit import submit_send

OVERLOADED = "overloaded: the queue filled while the batch was stored; retry this item"


@dataclass(slots=True)
class BatchAnswer:
    """What a Pushkin route answers with 200: what was taken and what was not."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[ItemError] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)  # to wake in-process workers

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "rejected": [error.to_json() for error in sorted(self.rejected, key=lambda e: e.index)],
            "sends": self.accepted,
        }


def submit_notifications(
    db: Database, queue: Queue, settings: Settings, app_id: int, parsed: Parsed[PushkinNotification]
) -> BatchAnswer:
    """Submit each notification as a send (see the module docstring).

    :raises Backpressure: the queue is full; nothing was stored.
    """
    answer = BatchAnswer(rejected=list(parsed.errors))
    if not parsed.items:
        return answer
    admit(db, queue, settings, direct=True, adding=len(parsed.items))
    for position, (index, item) in enumerate(parsed.items):
        try:
            submission = submit_send(db, queue, settings, app_id, notification_for(item),
                                     {"users": [user_external_id(item.login_id)]})
        except Backpressure:
            if not answer.accepted:
                raise
            answer.rejected.extend(ItemError(i, f"notifications[{i}]", OVERLOADED)
                                   for i, _ in parsed.items[position:])
            break
        except (PermanentError, pydantic.ValidationError) as exc:
            answer.rejected.append(ItemError(index, f"notifications[{index}]", _reason(exc)))
            continue
        answer.queues.update(submission.queues)
        answer.accepted.append({"index": index, "id": submission.response["id"],
                                "targeted": submission.response.get("targeted")})
    return answer


def _reason(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


def app_languages(db: Database, app_id: int) -> Mapping[str, str]:
    """The app's languageId → locale table (empty: ids are kept as given)."""
    with db.session(write=False) as session:
        return get_pushkin_settings(session, app_id).languages


def queue_depths(queue: Queue) -> dict[str, int]:
    """Pushkin's three monitored queues, from the durable queue."""
    by_provider = provider_depths(queue)
    return {
        "request": queue.depths().get(FANOUT_QUEUE, 0),
        "apn_sender": by_provider.get("apns", 0),
        "gcm_sender": by_provider.get("fcm", 0),
    }


__all__ = ["OVERLOADED", "BatchAnswer", "app_languages", "queue_depths", "submit_notifications"]
