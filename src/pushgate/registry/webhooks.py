"""An app's delivery webhooks: storing them, and the queries their drain jobs run.

The secret is stored like the Web SDK's (sealed with ``secret_key`` when the
server has one, :mod:`pushgate.registry.credential_cipher`, bound to the app
and the name ``webhook``) and shown only when it is made: on create and on
rotation. docs/webhooks.md describes the resource; the SSRF check of the URL
is the service's (:mod:`pushgate.service.webhook_guard`), done before the
URL reaches this module.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from pushgate.registry._errors import NotFound, ValidationError
from pushgate.registry._types import utcnow
from pushgate.registry.credential_cipher import CredentialCipher
from pushgate.registry.db import Database
from pushgate.registry.webhook_capture import EVENT_TYPES
from pushgate.registry.webhook_tables import Webhook, WebhookEvent

MAX_WEBHOOKS_PER_APP = 10
SECRET_PREFIX = "whsec_"
_CIPHER_NAME = "webhook"  # the "provider" the sealed secret is bound to (associated data)
_SECRET_FIELD = "secret"


def new_secret() -> str:
    """A signing secret: 256 random bits, URL-safe, with a prefix that says what it is."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def events_column(types: Sequence[str] | None) -> str:
    """The ``events`` column for a list of event types (None: every type); 422 names ``events``."""
    chosen = list(EVENT_TYPES) if types is None else list(dict.fromkeys(types))
    if not chosen:
        raise ValidationError("events", "name at least one event type")
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        known = ", ".join(EVENT_TYPES)
        raise ValidationError("events", f"unknown event type {unknown[0]!r}; one of: {known}")
    return "," + ",".join(chosen) + ","


def event_types(webhook: Webhook) -> list[str]:
    return [t for t in webhook.events.split(",") if t]


def webhook_secret(webhook: Webhook, cipher: CredentialCipher) -> str:
    return str(cipher.open(webhook.app_id, _CIPHER_NAME, {_SECRET_FIELD: webhook.secret})[_SECRET_FIELD])


def _seal(cipher: CredentialCipher, app_id: int, secret: str) -> str:
    return str(cipher.seal(app_id, _CIPHER_NAME, {_SECRET_FIELD: secret})[_SECRET_FIELD])


def create_webhook(
    session: Session, app_id: int, url: str, *, events: Sequence[str] | None, enabled: bool,
    cipher: CredentialCipher, now: datetime | None = None,
) -> tuple[Webhook, str]:
    """Store a webhook whose URL was checked; returns it and its secret (shown this once)."""
    count = session.scalar(select(func.count()).select_from(Webhook).where(Webhook.app_id == app_id)) or 0
    if count >= MAX_WEBHOOKS_PER_APP:
        raise ValidationError("url", f"an app has at most {MAX_WEBHOOKS_PER_APP} webhooks")
    now = now or utcnow()
    secret = new_secret()
    webhook = Webhook(app_id=app_id, url=url, events=events_column(events), enabled=enabled,
                      secret=_seal(cipher, app_id, secret), consecutive_failures=0, job_seq=0,
                      created_at=now, updated_at=now)
    session.add(webhook)
    session.flush()
    return webhook, secret


def get_webhook(session: Session, app_id: int, webhook_id: int) -> Webhook:
    found = session.get(Webhook, webhook_id)
    if found is None or found.app_id != app_id:
        raise NotFound("webhook", webhook_id)
    return found


def list_webhooks(session: Session, app_id: int) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.app_id == app_id).order_by(Webhook.id)))


def update_webhook(
    session: Session, webhook: Webhook, *, url: str | None = None, events: Sequence[str] | None = None,
    enabled: bool | None = None, now: datetime | None = None,
) -> Webhook:
    """Change what was given. Enabling a disabled webhook clears its failure run and reason."""
    if url is not None:
        webhook.url = url
    if events is not None:
        webhook.events = events_column(events)
    if enabled is not None:
        if enabled and not webhook.enabled:
            webhook.consecutive_failures = 0
            webhook.disabled_reason = None
        webhook.enabled = enabled
        if not enabled and webhook.disabled_reason is None:
            webhook.disabled_reason = "disabled through the API"
    webhook.updated_at = now or utcnow()
    return webhook


def rotate_secret(
    session: Session, webhook: Webhook, cipher: CredentialCipher, *,
    previous_valid: timedelta = timedelta(0), now: datetime | None = None,
) -> str:
    """A new secret, signing from the next batch on; returns it (shown this once).

    For ``previous_valid`` the secret it replaces signs each batch too (a second
    ``v1=`` signature), so the receiver can switch without refusing a batch.
    """
    now = now or utcnow()
    secret = new_secret()
    if previous_valid > timedelta(0):
        webhook.previous_secret, webhook.previous_secret_until = webhook.secret, now + previous_valid
    else:
        webhook.previous_secret = webhook.previous_secret_until = None
    webhook.secret = _seal(cipher, webhook.app_id, secret)
    webhook.updated_at = now
    return secret


def previous_secret_expiry(webhook: Webhook, now: datetime | None = None) -> datetime | None:
    """When the previous secret stops signing; None when it does not (any more)."""
    until = webhook.previous_secret_until
    if webhook.previous_secret is None or until is None or until <= (now or utcnow()):
        return None
    return until


def signing_secrets(
    webhook: Webhook, cipher: CredentialCipher, now: datetime | None = None,
) -> tuple[str, ...]:
    """The secrets a batch is signed with now: the current one, then the previous during its grace."""
    current = webhook_secret(webhook, cipher)
    if previous_secret_expiry(webhook, now) is None or webhook.previous_secret is None:
        return (current,)
    previous = cipher.open(webhook.app_id, _CIPHER_NAME, {_SECRET_FIELD: webhook.previous_secret})
    return (current, str(previous[_SECRET_FIELD]))


def delete_webhook(session: Session, webhook: Webhook) -> None:
    session.execute(delete(WebhookEvent).where(WebhookEvent.webhook_id == webhook.id))
    session.delete(webhook)


def pending_events(session: Session, webhook_ids: Sequence[int]) -> dict[int, int]:
    """Events waiting per webhook."""
    if not webhook_ids:
        return {}
    rows = session.execute(select(WebhookEvent.webhook_id, func.count()).where(
        WebhookEvent.webhook_id.in_(webhook_ids)).group_by(WebhookEvent.webhook_id))
    return {int(row[0]): int(row[1]) for row in rows}


# -- the drain jobs' side (pushgate.workers.webhooks) --

@dataclass(frozen=True, slots=True)
class Batch:
    """The oldest events waiting for one webhook, with what it takes to send them."""

    webhook_id: int
    app_id: int
    url: str
    secrets: tuple[str, ...]  # the current secret first; the previous one during a rotation's grace
    events: list[dict[str, Any]]
    event_ids: list[int]


def due_webhooks(db: Database) -> list[tuple[int, int]]:
    """(id, job_seq) of the enabled webhooks that have events waiting."""
    waiting = exists().where(WebhookEvent.webhook_id == Webhook.id)
    with db.session(write=False) as session:
        rows = session.execute(select(Webhook.id, Webhook.job_seq).where(Webhook.enabled, waiting))
        return [(int(row[0]), int(row[1])) for row in rows]


def load_batch(db: Database, webhook_id: int, cipher: CredentialCipher, limit: int) -> Batch | None:
    """The next batch of an enabled webhook, oldest events first; None when there is none."""
    with db.session(write=False) as session:
        webhook = session.get(Webhook, webhook_id)
        if webhook is None or not webhook.enabled:
            return None
        rows = list(session.scalars(select(WebhookEvent).where(WebhookEvent.webhook_id == webhook_id)
                                    .order_by(WebhookEvent.id).limit(limit)))
        if not rows:
            return None
        return Batch(webhook.id, webhook.app_id, webhook.url, signing_secrets(webhook, cipher),
                     [event_json(row) for row in rows], [row.id for row in rows])


def event_json(row: WebhookEvent) -> dict[str, Any]:
    """One event as the endpoint receives it (docs/webhooks.md §3)."""
    kind = row.type.removeprefix("delivery.")
    shown: dict[str, Any] = {
        "id": f"{row.send_id}:{row.device_id}:{kind}",  # stable: the same event re-sent has the same id
        "type": row.type, "send_id": row.send_id, "device_id": row.device_id, "provider": row.provider,
        "at": _iso(row.at), "reason": row.reason,
    }
    if row.type == "delivery.dead":
        shown["provider_timestamp"] = _iso(row.provider_timestamp)
    if row.type == "delivery.clicked":
        shown["action"] = row.action
    return shown


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def acknowledge(
    db: Database, webhook_id: int, event_ids: Sequence[int], *, now: datetime | None = None,
) -> None:
    """The endpoint took the batch: its events go, the failure run ends."""
    with db.session() as session:
        session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(event_ids)))
        session.execute(update(Webhook).where(Webhook.id == webhook_id).values(
            consecutive_failures=0, last_success_at=now or utcnow()))


def record_failure(
    db: Database, webhook_id: int, error: str, *, max_failures: int, now: datetime | None = None,
) -> tuple[int, bool]:
    """Count a failed delivery; at ``max_failures`` in a row disable the webhook, saying why.

    Returns (the failure run's length, whether the webhook is now disabled).
    """
    now = now or utcnow()
    with db.session() as session:
        webhook = session.get(Webhook, webhook_id, with_for_update=True)
        if webhook is None:
            return 0, True
        webhook.consecutive_failures += 1
        webhook.last_failure_at = now
        webhook.last_error = error[:300]
        if webhook.consecutive_failures >= max_failures and webhook.enabled:
            webhook.enabled = False
            webhook.disabled_reason = (f"disabled after {webhook.consecutive_failures} consecutive failed "
                                       f"deliveries; last error: {error}")[:300]
        return webhook.consecutive_failures, not webhook.enabled


def finish_job(db: Database, webhook_id: int, job_seq: int) -> None:
    """The drain job ``job_seq`` ends: the next one gets a fresh job id."""
    with db.session() as session:
        session.execute(update(Webhook).where(Webhook.id == webhook_id, Webhook.job_seq == job_seq)
                        .values(job_seq=job_seq + 1))


def purge_webhook_events(db: Database, *, older_than: datetime, batch: int = 5000) -> int:
    """Delete up to ``batch`` undelivered events recorded before ``older_than``.

    Run with the deliveries' retention (the events describe deliveries whose
    rows are gone by then): what a disabled webhook left waiting does not
    stay forever.
    """
    with db.connect() as connection:
        ids = list(connection.execute(select(WebhookEvent.id).where(WebhookEvent.at < older_than)
                                      .order_by(WebhookEvent.id).limit(batch)).scalars())
        if not ids:
            return 0
        return max(connection.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids))).rowcount, 0)


__all__ = [
    "MAX_WEBHOOKS_PER_APP",
    "Batch",
    "acknowledge",
    "create_webhook",
    "delete_webhook",
    "due_webhooks",
    "event_json",
    "event_types",
    "events_column",
    "finish_job",
    "get_webhook",
    "list_webhooks",
    "load_batch",
    "new_secret",
    "pending_events",
    "previous_secret_expiry",
    "purge_webhook_events",
    "record_failure",
    "rotate_secret",
    "signing_secrets",
    "update_webhook",
    "webhook_secret",
]
