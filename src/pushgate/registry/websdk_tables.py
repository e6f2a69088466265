"""The Web SDK's tables: an app's SDK settings and the events browsers report.

Declared apart from the functions using them (:mod:`pushgate.registry.websdk`,
:mod:`pushgate.registry.engagement`) so that :mod:`pushgate.registry.models`
can import them at its end without an import cycle.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pushgate.registry._types import BigId, UTCDateTime, utcnow
from pushgate.registry.models import Base

__all__ = ["PushEvent", "WebSdkConfig"]


class WebSdkConfig(Base):
    """One app's Web SDK settings (at most one row per app)."""

    __tablename__ = "web_sdk_configs"

    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    require_uid_signature: Mapped[bool] = mapped_column(Boolean, default=False)
    secret: Mapped[str] = mapped_column(Text)  # sealed when the server has a secret_key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:  # never the secret
        return f"WebSdkConfig(app_id={self.app_id!r}, public_id={self.public_id!r})"


class PushEvent(Base):
    """One subscription's report of one send: displayed or clicked (once each)."""

    __tablename__ = "push_events"
    __table_args__ = (Index("ix_push_events_app_created", "app_id", "created_at"),)

    send_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id", ondelete="CASCADE"))
    action: Mapped[str | None] = mapped_column(String(100))  # the action button clicked, if one
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
