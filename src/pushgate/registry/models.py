"""The tables: ORM classes for CRUD, their ``__table__`` for the hot paths.

Design notes (why the tables look like this):

- Integer surrogate keys for apps, users and devices: devices are paged
  and fanned out by keyset on ``id`` (``WHERE id > :cursor ORDER BY id``),
  which stays fast at any depth, unlike OFFSET.
- Tokens can be long (a Web Push endpoint is ~500 characters), so
  uniqueness of ``(app, token, provider)`` is enforced on ``token_hash``, the
  SHA-256 of the token: a fixed 32-byte key on both SQLite and PostgreSQL.
- ``deliveries`` holds one row per device and send, written once when the
  outcome is final; pending work is ``targeted - outcomes``. Its primary key
  ``(send_id, device_id)`` makes recording idempotent
  (``INSERT … ON CONFLICT DO NOTHING``). There are deliberately no foreign
  keys: history survives a device's deletion, and the hottest insert skips a
  check per row (on PostgreSQL a referential-integrity trigger per row,
  which cost 2.8x the insert). Deleting an app deletes its deliveries
  explicitly (:func:`~pushgate.registry.apps.delete_app`).
- The embedded queue's ``jobs`` table is defined in
  :mod:`pushgate.queue.tables` on this module's ``Base``: one database, one
  metadata and one migration history, but the queue owns its table.
- Times are timezone-aware UTC datetimes (stored naive-UTC on SQLite, as
  ``timestamptz`` on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pushgate.registry._redact import redact_config
from pushgate.registry._types import BigId, UTCDateTime, utcnow
from pushgate.registry.constants import APP_SETTINGS_DEFAULTS, REDACTED

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class App(Base):
    """A tenant: one mobile/web application with its credentials and API keys."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def setting(self, name: str) -> Any:
        """One app setting, or its default (see ``APP_SETTINGS_DEFAULTS``)."""
        return (self.settings or {}).get(name, APP_SETTINGS_DEFAULTS[name])

    def __repr__(self) -> str:
        return f"App(id={self.id!r}, name={self.name!r})"


class ApiKey(Base):
    """An API key, stored as the SHA-256 of the key; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:  # never the hash
        return f"ApiKey(id={self.id!r}, app_id={self.app_id!r}, prefix={self.prefix!r})"


class Credentials(Base):
    """An app's credentials for one provider; ``config`` holds secrets (encrypted with a ``secret_key``)."""

    __tablename__ = "credentials"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def redacted(self) -> dict[str, Any]:
        """The config as anything that displays it must show it: secrets masked."""
        return redact_config(self.config)

    def __repr__(self) -> str:
        return f"Credentials(app_id={self.app_id!r}, provider={self.provider!r}, config={REDACTED})"


class User(Base):
    """The application's own id for a person, with language, tags and opt-outs."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("app_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tag_rows: Mapped[list[UserTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )
    optout_rows: Mapped[list[UserOptOut]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def tags(self) -> list[str]:
        return sorted(row.tag for row in self.tag_rows)

    @property
    def optouts(self) -> list[str]:
        return sorted(row.topic for row in self.optout_rows)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, app_id={self.app_id!r}, external_id={self.external_id!r})"


class UserTag(Base):
    __tablename__ = "user_tags"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)


class UserOptOut(Base):
    """The user does not want ``topic`` ("*": anything)."""

    __tablename__ = "user_optouts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Device(Base):
    """One installation (or browser subscription) that can receive pushes."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("app_id", "token_hash", "provider"),
        # Fan-out and listing: keyset on id within (app, active, provider).
        Index("ix_devices_fanout", "app_id", "active", "provider", "id"),
        Index("ix_devices_installation", "app_id", "device_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(Text)  # Web Push: the endpoint URL; WNS: the channel URI
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    p256dh: Mapped[str | None] = mapped_column(String(100))  # Web Push only, base64url
    auth: Mapped[str | None] = mapped_column(String(32))  # Web Push only, base64url
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    platform: Mapped[str | None] = mapped_column(String(20))
    app_version: Mapped[str | None] = mapped_column(String(50))
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    device_id: Mapped[str | None] = mapped_column(String(200))  # the app's installation id
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    inactive_reason: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unregistered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tag_rows: Mapped[list[DeviceTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )
    user: Mapped[User | None] = relationship(lazy="selectin")

    @property
    def tags(self) -> list[str]:
        return sorted(row.tag for row in self.tag_rows)

    @property
    def user_external_id(self) -> str | None:
        return self.user.external_id if self.user is not None else None

    def __repr__(self) -> str:  # tokens are credentials of a kind: show a prefix only
        return (
            f"Device(id={self.id!r}, app_id={self.app_id!r}, provider={self.provider!r}, "
            f"token={self.token[:8]!r}…, active={self.active!r})"
        )


class DeviceTag(Base):
    __tablename__ = "device_tags"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)


class Send(Base):
    """One request to notify a target, with its counters."""

    __tablename__ = "sends"
    __table_args__ = (
        UniqueConstraint("app_id", "idempotency_key"),
        Index("ix_sends_app_created", "app_id", "created_at"),
        Index("ix_sends_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    notification: Mapped[dict[str, Any]] = mapped_column(JSON)
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    targeted: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    dead: Mapped[int] = mapped_column(Integer, default=0)
    expired: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    # Devices the send targeted when it was accepted (None: scheduled). Until fan-out has
    # counted them all into ``targeted``, the rest are deliveries the queue will still get:
    # admission counts them (pushgate.service.admission).
    audience: Mapped[int | None] = mapped_column(Integer)
    direct: Mapped[bool] = mapped_column(Boolean, default=False)  # named tokens/devices/users
    # Resumable fan-out: the cursor and the jobs being enqueued (see planner.fanout).
    fanout_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # cached API answer

    @property
    def recorded(self) -> int:
        return self.sent + self.failed + self.dead + self.expired + self.cancelled

    @property
    def pending(self) -> int:
        return max(0, self.targeted - self.recorded)

    def __repr__(self) -> str:
        return f"Send(id={self.id!r}, app_id={self.app_id!r}, status={self.status!r})"


class Delivery(Base):
    """The final outcome of one send to one device."""

    __tablename__ = "deliveries"
    # WITHOUT ROWID on SQLite: rows live in the primary key's B-tree, one
    # tree write per insert fewer on the hottest table.
    __table_args__ = (Index("ix_deliveries_device", "device_id"), {"sqlite_with_rowid": False})

    send_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TopicOperation(Base):
    """A request to subscribe device tokens to an FCM topic, or unsubscribe them, and its result."""

    __tablename__ = "topic_operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(900))
    action: Mapped[str] = mapped_column(String(16))  # subscribe | unsubscribe
    status: Mapped[str] = mapped_column(String(16))  # queued | done | failed
    tokens: Mapped[list[str]] = mapped_column(JSON)  # resolved when accepted; cleared when done
    requested: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # capped; tokens shortened
    error: Mapped[str | None] = mapped_column(String(200))  # why the whole operation failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def table_of(model: type[Base]) -> Table:
    """A model's Core table, typed as one (for the hot paths' Core statements)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


# Core tables for the hot paths (executemany inserts, bulk claims, counters).
devices_table = table_of(Device)
device_tags_table = table_of(DeviceTag)
users_table = table_of(User)
user_tags_table = table_of(UserTag)
user_optouts_table = table_of(UserOptOut)
sends_table = table_of(Send)
deliveries_table = table_of(Delivery)

__all__ = [
    "ApiKey",
    "App",
    "Base",
    "Credentials",
    "Delivery",
    "Device",
    "DeviceTag",
    "Send",
    "TopicOperation",
    "UTCDateTime",
    "User",
    "UserOptOut",
    "UserTag",
    "redact_config",
    "table_of",
    "utcnow",
]

# Tables declared beside the code that owns them, on this metadata (one set of migrations).
from pushgate.registry import admin_tables as _admin_tables  # noqa: E402, F401
from pushgate.registry import pushkin_tables as _pushkin_tables  # noqa: E402, F401
from pushgate.registry import pushpad_tables as _pushpad_tables  # noqa: E402, F401
from pushgate.registry import rate_limits as _rate_limits  # noqa: E402, F401
from pushgate.registry import webhook_tables as _webhook_tables  # noqa: E402, F401
from pushgate.registry import websdk_tables as _websdk_tables  # noqa: E402, F401
from pushgate.registry.catalog import tables as _catalog_tables  # noqa: E402, F401
