"""Event mode's tables: the message catalog, its settings, event batches and per-user state.

- ``event_messages`` / ``message_localizations``: the catalog an app keeps
  (docs/events.md §1): a message is triggered by event ids and rendered per
  language from templates.
- ``event_settings``: one row per app (default language, deep-link base,
  the ids of the predefined events, the frequency cap, quiet hours); an app
  without a row has the defaults of :data:`EVENT_SETTINGS_DEFAULTS`.
- ``event_batches``: an accepted ``POST /v1/events`` batch, stored with its
  job in one transaction, and what processing it decided.
- ``event_texts``: the text rendered for each device of an event send; the
  delivery job reads it instead of the send's single notification.
- ``message_optouts``, ``message_cooldowns``, ``user_caps``: per-user
  state the event worker reads and writes with single conditional
  statements (``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING``), so
  two workers deciding for the same user cannot both pass a check.

Like ``deliveries``, the hot per-user tables carry no foreign keys
(docs/architecture.md, registry models): rows of a deleted user or message
are inert, and the hottest statements skip a referential check per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pushgate.registry._types import BigId, UTCDateTime, utcnow
from pushgate.registry.models import Base, table_of

DEFAULT_LOGIN_EVENT = 4001  # Pushkin's login event
DEFAULT_OPTOUT_EVENT = 4006  # Pushkin's "turn off notifications" (blacklist snapshot) event
RESERVED_EVENTS = range(4000, 5000)  # predefined events; custom messages may not use them

EVENT_SETTINGS_DEFAULTS: dict[str, Any] = {
    "default_language": "en",
    "deep_link_base": None,
    "login_event_id": DEFAULT_LOGIN_EVENT,
    "optout_event_id": DEFAULT_OPTOUT_EVENT,
    "frequency_cap": None,  # notifications per user per window, across all messages
    "frequency_window": 86400,  # seconds
    "quiet_start": None,  # "HH:MM" in the user's time zone
    "quiet_end": None,
}


class EventMessage(Base):
    """A message of the catalog: what an event turns into, with its rules."""

    __tablename__ = "event_messages"
    __table_args__ = (UniqueConstraint("app_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[int]] = mapped_column(JSON)  # trigger event ids
    cooldown: Mapped[int] = mapped_column(Integer, default=0)  # seconds
    expiry: Mapped[int | None] = mapped_column(Integer)  # seconds after the event's timestamp
    screen: Mapped[str | None] = mapped_column(String(500))  # deep link, relative to the app's base
    priority: Mapped[str | None] = mapped_column(String(16))
    quiet_hours: Mapped[str] = mapped_column(String(16), default="deliver")  # deliver | hold | drop
    extras: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # further Notification fields
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    localizations: Mapped[list[MessageLocalization]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True,
        order_by="MessageLocalization.language",
    )


class MessageLocalization(Base):
    """A message's title and body in one language (BCP 47 tag, stored lower-case)."""

    __tablename__ = "message_localizations"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("event_messages.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(35), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)


class EventSettings(Base):
    """An app's event-mode settings (see :data:`EVENT_SETTINGS_DEFAULTS`)."""

    __tablename__ = "event_settings"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventBatch(Base):
    """An accepted batch of events and, once processed, what became of them."""

    __tablename__ = "event_batches"
    __table_args__ = (Index("ix_event_batches_app_created", "app_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    # [[user, event id, epoch seconds, params], …] until decided; emptied then
    events: Mapped[list[Any]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer)  # len(events): shown without loading them
    status: Mapped[str] = mapped_column(String(16))  # queued | done
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # counts by decision, send ids
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventText(Base):
    """The rendered title and body of one device in an event send."""

    __tablename__ = "event_texts"
    __table_args__ = ({"sqlite_with_rowid": False},)

    send_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)


class MessageOptOut(Base):
    """The user does not want this message (the 4006 snapshot replaces a user's set)."""

    __tablename__ = "message_optouts"
    __table_args__ = ({"sqlite_with_rowid": False},)

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class MessageCooldown(Base):
    """When a message was last sent to a user (the cooldown's clock)."""

    __tablename__ = "message_cooldowns"
    __table_args__ = ({"sqlite_with_rowid": False},)

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserCap(Base):
    """Notifications sent to a user in the current frequency window (one row per user)."""

    __tablename__ = "user_caps"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    window_start: Mapped[int] = mapped_column(BigInteger)  # epoch seconds
    count: Mapped[int] = mapped_column(Integer)


event_batches_table = table_of(EventBatch)
event_texts_table = table_of(EventText)
message_optouts_table = table_of(MessageOptOut)
message_cooldowns_table = table_of(MessageCooldown)
user_caps_table = table_of(UserCap)

__all__ = [
    "DEFAULT_LOGIN_EVENT",
    "DEFAULT_OPTOUT_EVENT",
    "EVENT_SETTINGS_DEFAULTS",
    "RESERVED_EVENTS",
    "EventBatch",
    "EventMessage",
    "EventSettings",
    "EventText",
    "MessageCooldown",
    "MessageLocalization",
    "MessageOptOut",
    "UserCap",
    "event_batches_table",
    "event_texts_table",
    "message_cooldowns_table",
    "message_optouts_table",
    "user_caps_table",
]
