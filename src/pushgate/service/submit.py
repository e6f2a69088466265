"""Accepting a send: the one path from a request to durable work (API and CLI alike).

The promise behind a 2xx is that the send is stored and will be delivered
or end with a recorded reason, even across ``kill -9``. So, in order:

1. **Replay.** A request whose ``Idempotency-Key`` the app already used gets
   the first answer back (same request) or a conflict (different request),
   before any other check: a retry of an accepted send must not be refused
   for load that arrived since.
2. **Validate** the target, the notification's expiry, ``send_at`` (not
   already gone), and, for every
   provider the app has credentials for, the payload size
   (:mod:`pushgate.providers.payload_limits`).
3. **Backpressure.** When the deliveries already coming (queued, and not
   yet fanned out) plus this send's would exceed ``settings.max_queue_depth``
   (``max_direct_queue_depth`` for sends to named devices;
   :mod:`pushgate.service.admission`) the send is refused (503 with
   Retry-After) *before* anything is stored: overload is an answer, never a
   silent drop.
4. **Store** the send, its cached answer and its fan-out job in **one
   transaction** — or, for a send to a short list of tokens, devices or
   users that is not scheduled, its delivery jobs on the direct lane:
   :func:`pushgate.planner.fan_out_now` fans it out right there, so no
   worker has to claim and run a fan-out job before its delivery
   (docs/scale-out.md §2 "Lanes"). Either way :meth:`Queue.enqueue_with`
   makes the jobs durable exactly when the send's transaction commits (the
   embedded queue writes its rows on the send's own connection; a queue in
   another engine writes outbox rows there and relays them), so there is
   no moment where a send exists without its jobs. A replay still re-enqueues the fan-out of a send that
   is ``queued`` (idempotent by job id), and
   :func:`pushgate.planner.resume_fanouts` re-runs unfinished fan-outs at
   start-up.

The number of targeted devices is
:func:`pushgate.planner.count_audience_by_provider`, a ``COUNT … GROUP BY
provider`` over the same conditions the fan-out walks; it is null for a
scheduled send, whose audience is decided when it runs. An FCM topic or
condition target counts 1: one request, which FCM fans out itself. The
payload is checked for the providers the target reaches now (an app with
WNS credentials may send Windows-incompatible content to its iOS users); a
device of another provider that joins a scheduled send's audience later
fails alone at delivery if its provider cannot carry the notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from pushgate.notification import Notification
from pushgate.planner import Walked, count_audience_by_provider, fan_out_now, fanout_job, walk_now
from pushgate.providers.payload_limits import check_payloads
from pushgate.queue import Queue
from pushgate.registry import (
    Database,
    ProviderName,
    SendStatus,
    Target,
    ValidationError,
    create_send,
    list_credentials,
    new_send,
    send_id_for_key,
    store_send,
    unexpanded_deliveries,
    unknown_tokens,
    unknown_users,
)
from pushgate.registry.app_defaults import apply_defaults, notification_defaults
from pushgate.registry.audience import reached_users
from pushgate.registry.models import Send, utcnow
from pushgate.service.admission import admit
from pushgate.service.provider_limits import admit_providers
from pushgate.service.settings import Settings

# How far behind the server's clock a send_at may be and still mean "now" (_check_send_at).
SEND_AT_SLACK = timedelta(minutes=1)
SHOWN_UNKNOWN_USERS = 100  # unknown user ids named in the answer; the count says how many in all


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer to an accepted send: stored with it, replayed for its Idempotency-Key.

    The API documents this shape as ``SendAccepted``; it is built here, not
    from the HTTP schema, because the command line stores the same answer.
    """

    id: str
    status: str
    targeted: int | None  # matching active devices now; None for a scheduled send
    send_at: datetime | None
    created_at: datetime
    # A send to users: those the app never registered (at most SHOWN_UNKNOWN_USERS) and how many.
    unknown_users: list[str] | None = None
    unknown_user_count: int | None = None
    # A send to tokens: those the app has no device for (at most SHOWN_UNKNOWN_USERS), how many.
    unknown_tokens: list[str] | None = None
    unknown_token_count: int | None = None
    # Pushpad's answer (https://pushpad.xyz/docs/rest_api): ``uids`` are the named users the
    # send reaches; neither it nor ``scheduled`` is given for a scheduled send.
    uids: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        # pydantic's serializer, so datetimes are written exactly as the API's response models write them.
        shown: dict[str, Any] = _ACCEPTED.dump_python(self, mode="json")
        if self.unknown_users is None:  # only sends to users say which are unknown
            del shown["unknown_users"], shown["unknown_user_count"]
        if self.unknown_tokens is None:  # nor do sends to tokens, when some are
            del shown["unknown_tokens"], shown["unknown_token_count"]
        if self.uids is None:
            del shown["uids"]
        if self.targeted is not None:
            shown["scheduled"] = self.targeted
        return shown


_ACCEPTED = TypeAdapter(Accepted)


@dataclass(frozen=True, slots=True)
class Submission:
    response: dict[str, Any]  # the JSON answer (stored, and replayed for the same key)
    replayed: bool  # an earlier request with the same Idempotency-Key was answered with it
    queues: tuple[str, ...]  # queues that received new jobs (to wake in-process workers)


def submit_send(
    db: Database,
    queue: Queue,
    settings: Settings,
    app_id: int,
    notification: Notification,
    target: Mapping[str, Any],
    *,
    send_at: datetime | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Submission:
    """Validate, check load, and store a send with its fan-out job (see the module docstring).

    :raises ValidationError, IdempotencyConflict, PayloadTooLarge, InvalidNotification: refused.
    :raises Backpressure: the queue is full; nothing was stored.
    """
    now = now or utcnow()
    parsed = Target.parse(target)
    scheduled = send_at is not None and send_at > now
    with db.session(write=False) as session:  # one read transaction for every check
        # The app's defaults fill what the send leaves out (a replay compares with them applied).
        notification = apply_defaults(notification, notification_defaults(session, app_id))
        fresh = idempotency_key is None or send_id_for_key(session, app_id, idempotency_key) is None
        if fresh:
            reads = _read_for_checks(session, app_id, parsed, scheduled, settings.chunk_size)
    if not fresh:
        assert idempotency_key is not None
        earlier = _replay(db, queue, app_id, notification, target, send_at, idempotency_key)
        if earlier is not None:
            return earlier
        with db.session(write=False) as session:  # the key's send was deleted meanwhile
            reads = _read_for_checks(session, app_id, parsed, scheduled, settings.chunk_size)
    if notification.expiration is not None and notification.expiration <= now:
        raise ValidationError("notification.expiration", "is already in the past")
    _check_send_at(send_at, now)
    notification.require_content()
    credentials, by_provider, walked = reads.credentials, reads.by_provider, reads.walked
    targeted = None if scheduled else sum(by_provider.values())
    if parsed.fcm and ProviderName.FCM.value not in credentials:
        raise ValidationError(f"target.{parsed.audience}", "the app has no FCM credentials")
    check_payloads(notification, credentials, providers=by_provider, now=now)
    if parsed.fcm:
        # FCM allows topic and condition messages 2048 bytes, not 4096 (docs/protocols/fcm.md §4.2).
        from pushgate.providers.fcm.payload import TOPIC_LIMIT, build_payload

        build_payload(notification, target="topic" if parsed.audience == "topic" else "condition",
                      limit=TOPIC_LIMIT, now=now)
    admit(db, queue, settings, direct=parsed.audience != "all", adding=targeted, coming=reads.coming)
    admit_providers(db, queue, settings, app_id, parsed)  # max_provider_queue_depth

    # Everything the row holds is built first: the write transaction (on SQLite, the one write
    # lock) then runs only its statements (the app's check, the jobs, the row's one INSERT).
    send = new_send(app_id, notification, target, idempotency_key=idempotency_key, send_at=send_at,
                    now=now, audience=targeted)
    if walked is not None:
        jobs = fan_out_now(send, walked, chunk_size=settings.chunk_size, max_tries=settings.max_tries)
    else:
        jobs = [fanout_job(send.id, send_at, max_tries=settings.max_tries)]
    response = Accepted(
        id=send.id, status=send.status, targeted=targeted, send_at=send_at, created_at=now,
        unknown_users=None if reads.unknown is None else reads.unknown[:SHOWN_UNKNOWN_USERS],
        unknown_user_count=None if reads.unknown is None else len(reads.unknown), uids=reads.reached,
        unknown_tokens=None if not reads.unknown_tokens else reads.unknown_tokens[:SHOWN_UNKNOWN_USERS],
        unknown_token_count=None if not reads.unknown_tokens else len(reads.unknown_tokens),
    ).to_json()
    send.response = response  # cached for replays
    with db.session() as session:
        stored = store_send(session, send)
        if stored is not send:  # a concurrent request with the same key won
            return Submission(stored.response or _answer_of(stored), True, ())
        queue.enqueue_with(session, jobs)
    return Submission(response, False, tuple(sorted({job.queue for job in jobs})))


@dataclass(frozen=True, slots=True)
class _Reads:
    """What the checks of a new send read, in one transaction."""

    credentials: dict[str, Any]  # provider -> config
    by_provider: dict[str, int]  # targeted devices now, per provider
    walked: Walked | None  # a short list target's devices (planner.walk_now), or None
    unknown: list[str] | None  # a send to users: those the app never registered
    unknown_tokens: list[str] | None  # a send to tokens: those the app has no device for
    reached: list[str] | None  # a send to users, not scheduled: those it reaches
    coming: tuple[int, int]  # deliveries accepted sends will still add (admission)


def _read_for_checks(session: Session, app_id: int, parsed: Target, scheduled: bool, chunk_size: int,
                     ) -> _Reads:
    credentials = {row.provider: row.config for row in list_credentials(session, app_id)}
    # A short list's devices are read once: they give the count and, unscheduled, the jobs.
    walked = None if scheduled else walk_now(session, app_id, parsed, chunk_size=chunk_size)
    by_provider = walked.by_provider() if walked is not None else count_audience_by_provider(
        session, app_id, parsed)
    unknown = reached = tokens_unknown = None
    if parsed.audience == "users":
        unknown = unknown_users(session, app_id, parsed.values)
        reached = None if scheduled else reached_users(session, app_id, parsed)
    elif parsed.audience == "tokens" and sum(by_provider.values()) < len(set(parsed.values)):
        # Looked up only when fewer devices matched than tokens were given (a login code to a
        # registered token pays nothing more).
        tokens_unknown = unknown_tokens(session, app_id, parsed.values)
    return _Reads(credentials, by_provider, walked, unknown, tokens_unknown, reached,
                  unexpanded_deliveries(session))


def _check_send_at(send_at: datetime | None, now: datetime) -> None:
    """A ``send_at`` already gone is a mistake (a wrong year or time zone), not "send now".

    Up to :data:`SEND_AT_SLACK` behind the server's clock is "now": a client's
    clock may run a little behind. Checked after a replay, so a client retrying
    with its Idempotency-Key once that time has passed still gets its answer.
    """
    if send_at is None or send_at >= now - SEND_AT_SLACK:
        return
    raise ValidationError("send_at", f"is in the past ({send_at.isoformat()}, {_ago(now - send_at)}); "
                                     "omit send_at to send now, or give a later time with its time zone")


def _ago(gone: timedelta) -> str:
    seconds = int(gone.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return f"{seconds} seconds ago"


def _replay(
    db: Database,
    queue: Queue,
    app_id: int,
    notification: Notification,
    target: Mapping[str, Any],
    send_at: datetime | None,
    key: str,
) -> Submission | None:
    """The stored answer for ``key``, or None when the key is new."""
    with db.session(write=False) as session:
        if send_id_for_key(session, app_id, key) is None:
            return None
        # With the key in use create_send only compares: the earlier send, or IdempotencyConflict.
        send = create_send(session, app_id, notification, target, idempotency_key=key, send_at=send_at)
        response, status, send_id, due = send.response, send.status, send.id, send.send_at
    if status == SendStatus.QUEUED:
        queue.enqueue([fanout_job(send_id, due)])  # no-op unless a crash lost it
    return Submission(response or _answer_of(send), True, ())


def _answer_of(send: Send) -> dict[str, Any]:
    """The answer for a send stored without one (by a tool that does not cache answers)."""
    return Accepted(id=send.id, status=send.status, targeted=None, send_at=send.send_at,
                    created_at=send.created_at).to_json()

