"""The message catalog and an app's event settings: stored and read here, checked by the service.

Functions take a Session and never commit (the caller's ``with
db.session()`` is the transaction), like the rest of the registry. Values
arrive validated (:mod:`pushgate.service.catalog` checks names, event ids,
templates and extras and answers 422 naming the field); this module only
stores them and keeps names unique per app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pushgate.registry._types import utcnow
from pushgate.registry.apps import require_app
from pushgate.registry.catalog.tables import (
    EVENT_SETTINGS_DEFAULTS,
    EventMessage,
    EventSettings,
    MessageLocalization,
)


@dataclass(frozen=True, slots=True)
class Localization:
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class MessageFields:
    """A message's fields besides its name and localizations (validated by the service)."""

    events: tuple[int, ...]
    cooldown: int = 0
    expiry: int | None = None
    screen: str | None = None
    priority: str | None = None
    quiet_hours: str = "deliver"
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as stored, with its localizations (language → title and body)."""

    id: int
    app_id: int
    name: str
    fields: MessageFields
    localizations: dict[str, Localization]
    created_at: datetime
    updated_at: datetime


def _view(message: EventMessage) -> MessageView:
    return MessageView(
        id=message.id, app_id=message.app_id, name=message.name,
        fields=MessageFields(
            events=tuple(message.events), cooldown=message.cooldown, expiry=message.expiry,
            screen=message.screen, priority=message.priority, quiet_hours=message.quiet_hours,
            extras=dict(message.extras or {}),
        ),
        localizations={row.language: Localization(row.title, row.body) for row in message.localizations},
        created_at=message.created_at, updated_at=message.updated_at,
    )


def _find(session: Session, app_id: int, name: str) -> EventMessage | None:
    return session.scalar(
        select(EventMessage).where(EventMessage.app_id == app_id, EventMessage.name == name))


def list_messages(session: Session, app_id: int) -> list[MessageView]:
    """Every message of the app, by name (catalogs are small: tens to hundreds)."""
    rows = session.scalars(
        select(EventMessage).where(EventMessage.app_id == app_id).order_by(EventMessage.name))
    return [_view(row) for row in rows]


def get_message(session: Session, app_id: int, name: str) -> MessageView | None:
    message = _find(session, app_id, name)
    return _view(message) if message is not None else None


def put_message(
    session: Session,
    app_id: int,
    name: str,
    fields: MessageFields,
    localizations: Mapping[str, Localization] | None = None,
    *,
    now: datetime | None = None,
) -> tuple[MessageView, bool]:
    """Create or replace the message ``name``; returns it and whether it was created.

    ``localizations`` replaces the message's set when given; None keeps it.
    """
    now = now or utcnow()
    require_app(session, app_id)
    message = _find(session, app_id, name)
    created = message is None
    if message is None:
        message = EventMessage(app_id=app_id, name=name, created_at=now)
        session.add(message)
    message.events = list(fields.events)
    message.cooldown = fields.cooldown
    message.expiry = fields.expiry
    message.screen = fields.screen
    message.priority = fields.priority
    message.quiet_hours = fields.quiet_hours
    message.extras = dict(fields.extras)
    message.updated_at = now
    if localizations is not None:
        wanted = dict(localizations)
        kept = []
        for row in message.localizations:
            text = wanted.pop(row.language, None)
            if text is not None:
                row.title, row.body = text.title, text.body
                kept.append(row)
        message.localizations = kept + [
            MessageLocalization(language=language, title=text.title, body=text.body)
            for language, text in sorted(wanted.items())
        ]
    session.flush()
    session.refresh(message)
    return _view(message), created


def delete_message(session: Session, app_id: int, name: str) -> bool:
    message = _find(session, app_id, name)
    if message is None:
        return False
    session.delete(message)
    session.flush()
    return True


def put_localization(
    session: Session,
    app_id: int,
    name: str,
    language: str,
    text: Localization,
    *,
    now: datetime | None = None,
) -> bool | None:
    """Create or replace one localization; True if created, None when the message does not exist."""
    message = _find(session, app_id, name)
    if message is None:
        return None
    row = session.get(MessageLocalization, (message.id, language))
    created = row is None
    if row is None:
        session.add(MessageLocalization(message_id=message.id, language=language, title=text.title,
                                        body=text.body))
    else:
        row.title, row.body = text.title, text.body
    message.updated_at = now or utcnow()
    session.flush()
    session.expire(message, ["localizations"])
    return created


def delete_localization(session: Session, app_id: int, name: str, language: str) -> bool:
    message = _find(session, app_id, name)
    if message is None:
        return False
    done = session.execute(delete(MessageLocalization).where(
        MessageLocalization.message_id == message.id, MessageLocalization.language == language))
    session.expire(message, ["localizations"])
    return bool(getattr(done, "rowcount", 0))


def message_ids(session: Session, app_id: int, names: Iterable[str]) -> dict[str, int]:
    """Name → id of the app's messages among ``names`` (unknown names are left out)."""
    wanted = list(set(names))
    if not wanted:
        return {}
    rows = session.execute(select(EventMessage.name, EventMessage.id)
                           .where(EventMessage.app_id == app_id, EventMessage.name.in_(wanted)))
    return {name: message_id for name, message_id in rows}


def message_names(session: Session, app_id: int, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(EventMessage.id, EventMessage.name)
                           .where(EventMessage.app_id == app_id, EventMessage.id.in_(wanted)))
    return {message_id: name for message_id, name in rows}


# --- settings ---------------------------------------------------------------------------


def get_event_settings(session: Session, app_id: int) -> dict[str, Any]:
    """The app's event settings, defaults filled in."""
    row = session.get(EventSettings, app_id)
    return {**EVENT_SETTINGS_DEFAULTS, **(row.settings if row is not None else {})}


def set_event_settings(
    session: Session, app_id: int, changes: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any]:
    """Change some settings (names of :data:`EVENT_SETTINGS_DEFAULTS`, validated by the service)."""
    require_app(session, app_id)
    row = session.get(EventSettings, app_id)
    if row is None:
        row = EventSettings(app_id=app_id, settings={})
        session.add(row)
    row.settings = {**(row.settings or {}), **changes}
    row.updated_at = now or utcnow()
    session.flush()
    return {**EVENT_SETTINGS_DEFAULTS, **row.settings}


__all__ = [
    "Localization",
    "MessageFields",
    "MessageView",
    "delete_localization",
    "delete_message",
    "get_event_settings",
    "get_message",
    "list_messages",
    "message_ids",
    "message_names",
    "put_localization",
    "put_message",
    "set_event_settings",
]
