"""The ``pushkin_apps`` table (migration 0010); functions in :mod:`pushgate.registry.pushkin_apps`.

A module of its own, imported at the end of :mod:`pushgate.registry.models`
so the metadata (and the migration test) sees the table without importing
the registry's functions while the models are still loading.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from pushgate.registry._types import BigId, UTCDateTime, utcnow
from pushgate.registry.models import Base


class PushkinApp(Base):
    __tablename__ = "pushkin_apps"

    app_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    languages: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    route_secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["PushkinApp"]
