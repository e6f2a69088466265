"""The admin UI's tables: people who administer apps, what they may see, their sessions.

- ``admin_users``: a login name and a password hash (scrypt, see
  :mod:`pushgate.registry.admin_users`), a superuser flag (sees every app),
  and the lock-out bookkeeping (failed attempts in a row, locked until).
- ``admin_grants``: which apps a non-superuser may see; deleting an app or
  a user deletes its grants.
- ``admin_sessions``: server-side sessions. The browser holds a random
  token; the row holds only its SHA-256 (a database backup cannot be
  replayed as a cookie), the CSRF token of the session and its expiry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pushgate.registry._types import BigId, UTCDateTime, utcnow
from pushgate.registry.models import Base


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:  # never the hash
        return f"AdminUser(id={self.id!r}, username={self.username!r}, superuser={self.superuser!r})"


class AdminGrant(Base):
    __tablename__ = "admin_grants"

    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True,
                                        index=True)


class AdminSession(Base):
    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = ["AdminGrant", "AdminSession", "AdminUser"]
