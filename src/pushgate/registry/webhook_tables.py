"""The delivery webhooks' tables: an app's endpoints and the events waiting for each.

Declared apart from the functions using them (:mod:`pushgate.registry.webhooks`,
:mod:`pushgate.registry.webhook_capture`) so that :mod:`pushgate.registry.models`
can import them at its end without an import cycle. docs/webhooks.md describes
what they hold.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pushgate.registry._types import BigId, UTCDateTime, utcnow
from pushgate.registry.models import Base

__all__ = ["Webhook", "WebhookEvent"]


class Webhook(Base):
    """One HTTPS endpoint of an app that receives its delivery events in signed batches."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # The event types it takes, comma-separated between commas (",delivery.sent,delivery.dead,"),
    # so the capture statement filters with one LIKE on both databases.
    events: Mapped[str] = mapped_column(String(300))
    secret: Mapped[str] = mapped_column(Text)  # sealed when the server has a secret_key
    # After a rotation, batches are signed with this one too until previous_secret_until
    # (docs/webhooks.md §4), so a receiver can deploy the new secret without refusing any.
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    # Numbers the drain jobs (job id "webhook:<id>:<job_seq>"): a finished job moves it on,
    # so the next batch gets a fresh job id while the finished one is kept for idempotency.
    job_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:  # never the secret
        return f"Webhook(id={self.id!r}, app_id={self.app_id!r}, url={self.url!r})"


class WebhookEvent(Base):
    """One event waiting to be delivered to one webhook; deleted once the endpoint took it."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_webhook", "webhook_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(BigId, ForeignKey("webhooks.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    send_id: Mapped[str] = mapped_column(String(36))
    device_id: Mapped[int] = mapped_column(BigInteger)
    provider: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    provider_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    action: Mapped[str | None] = mapped_column(String(100))  # the button clicked, if one
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
