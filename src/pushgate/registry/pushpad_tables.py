"""Tables of the Pushpad-compatible API (docs/pushpad.md): senders, and integer notification ids.

- ``pushpad_senders``: Pushpad's *senders* are VAPID key pairs that projects
  use (https://pushpad.xyz/docs/rest_api, senders). A project created with a
  ``sender_id`` gets the sender's private key as its Web Push credentials.
  The private key is kept in ``config`` — sealed by the credential cipher
  when the server has a ``secret_key``, like every provider credential.
- ``pushpad_notifications``: Pushpad's notification ids are integers, and
  code written for Pushpad stores them as such; pushgate's send ids are
  UUIDs. One row maps the integer to the send (one-to-one).

The project's own attributes (website, sender) live in the app's
``settings`` (:mod:`pushgate.registry.pushpad_store`); its notification
defaults in ``notification_defaults`` (:mod:`pushgate.registry.app_defaults`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pushgate.registry._types import BigId, UTCDateTime, utcnow
from pushgate.registry.models import Base


class PushpadSender(Base):
    """A VAPID key pair, as Pushpad's senders API manages it."""

    __tablename__ = "pushpad_senders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"vapid_private_key": PEM}, sealed
    vapid_public_key: Mapped[str] = mapped_column(Text)  # PEM (SubjectPublicKeyInfo)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:  # never the key
        return f"PushpadSender(id={self.id!r}, name={self.name!r})"


class PushpadNotification(Base):
    """The integer id a Pushpad client knows a send by."""

    __tablename__ = "pushpad_notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    send_id: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["PushpadNotification", "PushpadSender"]
