"""Pushkin requests through pushgate's own paths: notifications become sends, events go to the event service.

**Notifications.** Each Pushkin notification is one send to the devices of
one user (external id = the decimal ``login_id``), checked like
``POST /v1/sends`` and stored with its fan-out job before the answer —
the whole batch in one transaction
(:func:`pushgate.service.submit_many.submit_many`). The batch is admitted
as a whole, so an overloaded server answers 503 with ``Retry-After`` with
nothing stored, and a client that retries the batch sends nothing twice.
Pushkin answered 503 too when its request queue was full, but dropped
notifications silently once its sender queues were. A notification the
send path refuses (an empty one, a payload too large) is reported with its
index; the rest are sent.

**Events.** Each Pushkin event becomes an :class:`~pushgate.service.events.EventIn`
(user id as decimal text, Pushkin's millisecond timestamp as an aware UTC
time, pairs as parameters) for the event service
(:func:`pushgate.service.events.accept_events`, which stores the accepted
ones with their job). The app's login event (4001 unless its event settings
say otherwise) has its Pushkin pairs translated first
(:func:`pushgate.pushkin.mapping.login_params`): ``platformId`` to a
provider and platform (an unknown one rejects the event), ``languageId``
through the app's language table. A ``languageId`` the table does not have
is kept as given when it is itself a language tag (``"en"``); otherwise
the login still registers the device, the language is left out, and the
answer carries a warning naming the event — Pushkin stored any integer, but
a pushgate user's language is a tag that templates fall back on.

**Queue depths** for Pushkin's monitoring routes come from the durable
queue: the request queue is the fan-out queue (sends not yet turned into
deliveries), the APN and GCM sender queues are the deliveries waiting in
the APNs and FCM lanes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from pushgate.notification import Notification
from pushgate.planner.jobs import FANOUT_QUEUE
from pushgate.pushkin.mapping import (
    PUSHKIN_LOGIN_KEYS,
    UnknownPlatform,
    login_params,
    notification_for,
    user_external_id,
)
from pushgate.pushkin.requests import ItemError, Parsed, PushkinEvent, PushkinNotification
from pushgate.queue import Queue
from pushgate.registry import Database, ValidationError
from pushgate.registry.catalog.messages import get_event_settings
from pushgate.registry.pushkin_apps import get_pushkin_settings
from pushgate.registry.validation import validate_locale
from pushgate.service.components import Services
from pushgate.service.events import EventIn, accept_events
from pushgate.service.provider_limits import provider_depths
from pushgate.service.settings import Settings
from pushgate.service.submit_many import submit_many


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
    sends: list[tuple[Notification, dict[str, Any]]] = []
    indexes: list[int] = []
    for index, item in parsed.items:
        try:
            notification = notification_for(item)
        except pydantic.ValidationError as exc:  # e.g. a title longer than a notification takes
            answer.rejected.append(ItemError(index, f"notifications[{index}]", _reason(exc)))
            continue
        sends.append((notification, {"users": [user_external_id(item.login_id)]}))
        indexes.append(index)
    if not sends:
        return answer
    for index, result in zip(indexes, submit_many(db, queue, settings, app_id, sends), strict=True):
        if isinstance(result, Exception):
            answer.rejected.append(ItemError(index, f"notifications[{index}]", _reason(result)))
        else:
            answer.accepted.append({"index": index, "id": result["id"], "targeted": result.get("targeted")})
    if answer.accepted:
        answer.queues.add(FANOUT_QUEUE)
    return answer


@dataclass(slots=True)
class EventsAnswer:
    accepted: int = 0
    batch_id: str | None = None
    rejected: list[ItemError] = field(default_factory=list)
    warnings: list[ItemError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted, "id": self.batch_id,
            "rejected": [error.to_json() for error in sorted(self.rejected, key=lambda e: e.index)],
            "warnings": [warning.to_json() for warning in self.warnings],
        }


def to_events(
    parsed: Parsed[PushkinEvent], languages: Mapping[str, str], login_event_id: int,
) -> tuple[list[EventIn], list[int], EventsAnswer]:
    """Pushkin events → the event service's, their batch indexes, and what was refused or changed."""
    answer = EventsAnswer(rejected=list(parsed.errors))
    events: list[EventIn] = []
    positions: list[int] = []
    for index, item in parsed.items:
        params = dict(item.pairs)
        if item.event_id == login_event_id:
            try:
                login = login_params(item.pairs, languages)
            except UnknownPlatform as exc:
                answer.rejected.append(ItemError(index, f"events[{index}].pairs.platformId", str(exc)))
                continue
            language = login.get("language")
            if language is not None and not _is_language_tag(language):
                del login["language"]
                answer.warnings.append(ItemError(
                    index, f"events[{index}].pairs.languageId",
                    f"languageId {language!r} is not in the app's language table (PUT /v1/pushkin/languages):"
                    " the device was registered, the user's language left unchanged",
                ))
            params = {k: v for k, v in item.pairs.items() if k not in PUSHKIN_LOGIN_KEYS} | login
        events.append(EventIn(user_external_id(item.user_id), item.event_id, item.timestamp, params))
        positions.append(index)
    return events, positions, answer


def _is_language_tag(value: str) -> bool:
    try:
        validate_locale(value)
    except ValidationError:
        return False
    return True


async def submit_events(components: Services, app_id: int, parsed: Parsed[PushkinEvent]) -> EventsAnswer:
    """Translate and hand the events to the event service (see the module docstring).

    :raises Backpressure: the queue is full; nothing was stored.
    :raises ValidationError: the batch is larger than the event service takes.
    """

    def read() -> tuple[Mapping[str, str], int]:
        with components.db.session(write=False) as session:
            return (get_pushkin_settings(session, app_id).languages,
                    int(get_event_settings(session, app_id)["login_event_id"]))

    languages, login_event_id = await asyncio.to_thread(read)
    events, positions, answer = to_events(parsed, languages, login_event_id)
    if not events:
        return answer
    stored = await accept_events(components, app_id, events)
    answer.accepted, answer.batch_id = stored.result.accepted, stored.batch_id
    for rejection in stored.result.rejected:
        index = positions[rejection.index]
        answer.rejected.append(ItemError(index, f"events[{index}]", rejection.reason))
    return answer


def _reason(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


def queue_depths(queue: Queue) -> dict[str, int]:
    """Pushkin's three monitored queues, from the durable queue."""
    by_provider = provider_depths(queue)
    return {
        "request": queue.depths().get(FANOUT_QUEUE, 0),
        "apn_sender": by_provider.get("apns", 0),
        "gcm_sender": by_provider.get("fcm", 0),
    }


__all__ = [
    "BatchAnswer", "EventsAnswer", "queue_depths", "submit_events",
    "submit_notifications", "to_events",
]
