"""Building blocks for event-mode tests: the service components, a catalog, events, batch status."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pushgate.queue import SqlQueue
from pushgate.registry import CredentialCipher, Database, SendStatusView, get_send_status
from pushgate.registry.catalog.batches import BatchView, get_batch
from pushgate.service.catalog import save_message, update_settings
from pushgate.service.components import Services, validation_policy
from pushgate.service.events import EventIn
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings

GREETING = {
    "events": [1001],
    "localizations": {
        "en": {"title": "Hello {name}", "body": "You have {count} new items"},
        "fr": {"title": "Bonjour {name}", "body": "Vous avez {count} nouveaux articles"},
    },
}


def services_for(settings: Settings, db: Database) -> Services:
    return Services(settings, db, SqlQueue(db), Metrics(), validation_policy(settings),
                    CredentialCipher.from_settings(settings))


def put_message(db: Database, app_id: int, name: str = "greeting", **changes: Any) -> None:
    with db.session() as session:
        save_message(session, app_id, name, {**GREETING, **changes})


def set_event_settings(db: Database, app_id: int, **changes: Any) -> None:
    with db.session() as session:
        update_settings(session, app_id, changes)


def event(user: str, event_id: int = 1001, *, at: datetime | None = None, **params: str) -> EventIn:
    return EventIn(user, event_id, at or datetime.now(UTC), dict(params))


def login(user: str, token: str | None = None, *, language: str = "en", platform: str = "ios",
          **extra: str) -> EventIn:
    params = {"language": language, "platform": platform, "token": token or secrets.token_hex(32),
              "application_version": "7", **extra}
    return EventIn(user, 4001, datetime.now(UTC), params)


def batch(db: Database, app_id: int, batch_id: str) -> BatchView:
    view = get_batch(db, app_id, batch_id)
    assert view is not None
    return view


def done_batch(db: Database, app_id: int, batch_id: str) -> BatchView | None:
    view = batch(db, app_id, batch_id)
    return view if view.status == "done" else None


def send_done(db: Database, send_id: str) -> SendStatusView | None:
    with db.session(write=False) as session:
        view = get_send_status(session, send_id)
    return view if view is not None and view.status == "done" else None
