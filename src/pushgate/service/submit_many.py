"""Many sends accepted in one transaction (Pushkin's notification batches).

:func:`pushgate.service.submit.submit_send` is one send per transaction:
its admission, its counts and its commit cost a few milliseconds each, so
a Pushkin batch of 1,000 notifications — one send per notification —
took 15 s on SQLite (67 notifications/s). Here the same steps run once per
batch where they can:

1. every send is validated on its own (target, expiry, content, the
   payload size for each provider the app has credentials for) and its
   audience counted, in one read transaction; a refused send is returned
   as its exception, in its place, and the others go on;
2. the batch is admitted as a whole — the sum of the audiences against
   ``max_direct_queue_depth`` (``max_queue_depth`` if one is a broadcast),
   and each target against ``max_provider_queue_depth`` — so an overloaded
   server refuses the batch (:class:`Backpressure`) before anything is
   stored, and a client retrying it sends nothing twice;
3. every accepted send, its cached answer and its fan-out job are written
   in **one transaction**: all of them are durable when this returns, or
   none.

No idempotency keys (Pushkin has none) and no scheduled sends; FCM topic
and condition targets go through ``POST /v1/sends``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pushgate.errors import PermanentError
from pushgate.notification import Notification
from pushgate.planner import count_audience, fanout_job
from pushgate.providers.payload_limits import check_payloads
from pushgate.queue import Queue
from pushgate.registry import (
    Database,
    Target,
    ValidationError,
    list_credentials,
    new_send,
    store_send,
    unknown_tokens,
    unknown_users,
)
from pushgate.registry.audience_counts import audience_per_user
from pushgate.registry.models import utcnow
from pushgate.service.admission import admit
from pushgate.service.provider_limits import admit_providers
from pushgate.service.settings import Settings
from pushgate.service.submit import SHOWN_UNKNOWN_USERS, Accepted


@dataclass(frozen=True, slots=True)
class _Checked:
    index: int
    notification: Notification
    target: Mapping[str, Any]
    parsed: Target
    targeted: int


def submit_many(
    db: Database,
    queue: Queue,
    settings: Settings,
    app_id: int,
    sends: Sequence[tuple[Notification, Mapping[str, Any]]],
    *,
    now: datetime | None = None,
) -> list[dict[str, Any] | PermanentError]:
    """Each send's answer (as ``POST /v1/sends`` gives it) or the reason it was refused, in order.

    :raises Backpressure: the queue has no room for the batch; nothing was stored.
    """
    now = now or utcnow()
    results: list[dict[str, Any] | PermanentError] = []
    checked: list[_Checked] = []
    with db.session(write=False) as session:
        credentials = {row.provider: row.config for row in list_credentials(session, app_id)}
        per_user = audience_per_user(session, app_id, _single_users(sends))
        for index, (notification, target) in enumerate(sends):
            try:
                parsed = Target.parse(target)
                if parsed.fcm:
                    raise ValidationError("target", "FCM topic and condition sends go through POST /v1/sends")
                if notification.expiration is not None and notification.expiration <= now:
                    raise ValidationError("notification.expiration", "is already in the past")
                notification.require_content()
                check_payloads(notification, credentials, providers=parsed.providers, now=now)
                targeted = (per_user[parsed.values[0]] if _plain_user(parsed) and parsed.values[0] in per_user
                            else count_audience(session, app_id, parsed))
            except PermanentError as exc:
                results.append(exc)
                continue
            results.append({})  # filled in once stored
            checked.append(_Checked(index, notification, target, parsed, targeted))
        named = [user for item in checked if item.parsed.audience == "users" for user in item.parsed.values]
        unknown = set(unknown_users(session, app_id, named)) if named else set()
        # Tokens are looked up only for sends that matched fewer devices than tokens given.
        short = [token for item in checked if _fewer_devices_than_tokens(item)
                 for token in item.parsed.values]
        unknown_token_set = set(unknown_tokens(session, app_id, short)) if short else set()
    if not checked:
        return results
    admit(db, queue, settings, direct=all(item.parsed.audience != "all" for item in checked),
          adding=sum(item.targeted for item in checked))
    for item in checked:
        admit_providers(db, queue, settings, app_id, item.parsed)  # no query unless a provider is full

    # Built before the write transaction, which then runs only its INSERTs (service/submit.py).
    rows = []
    for item in checked:
        send = new_send(app_id, item.notification, item.target, now=now, audience=item.targeted)
        missing = ([u for u in item.parsed.values if u in unknown]
                   if item.parsed.audience == "users" else None)
        missing_tokens = ([t for t in dict.fromkeys(item.parsed.values) if t in unknown_token_set]
                          if _fewer_devices_than_tokens(item) else None)
        send.response = results[item.index] = Accepted(
            id=send.id, status=send.status, targeted=item.targeted, send_at=None, created_at=now,
            unknown_users=None if missing is None else missing[:SHOWN_UNKNOWN_USERS],
            unknown_user_count=None if missing is None else len(missing),
            unknown_tokens=missing_tokens[:SHOWN_UNKNOWN_USERS] if missing_tokens else None,
            unknown_token_count=len(missing_tokens) if missing_tokens else None,
        ).to_json()
        rows.append(send)
    jobs = [fanout_job(row.id, None, max_tries=settings.max_tries) for row in rows]
    with db.session() as session:
        for row in rows:
            store_send(session, row)
        queue.enqueue_with(session, jobs)
    return results


def _fewer_devices_than_tokens(item: _Checked) -> bool:
    return item.parsed.audience == "tokens" and item.targeted < len(set(item.parsed.values))


def _plain_user(target: Target) -> bool:
    """A send to one user without filters: its audience is that user's active devices."""
    return (target.audience == "users" and len(target.values) == 1 and not target.platforms
            and not target.providers and not target.tags and not target.topic)


def _single_users(sends: Sequence[tuple[Notification, Mapping[str, Any]]]) -> list[str]:
    users = (target.get("users") for _, target in sends)
    return [u[0] for u in users if isinstance(u, list) and len(u) == 1 and isinstance(u[0], str)]


__all__ = ["submit_many"]
