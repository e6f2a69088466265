"""The registry side of the Pushpad-compatible API (docs/pushpad.md): projects, senders, ids, lists.

A Pushpad *project* is a pushgate app: its website and sender are kept in
the app's ``settings["pushpad"]``, its notification defaults (icon, badge,
TTL, require-interaction, silent; the website as the default target URL) in
``settings["notification_defaults"]``. A *sender* is a VAPID key pair
(:class:`~pushgate.registry.pushpad_tables.PushpadSender`); a project
created with one gets its key as the app's Web Push credentials. A
*subscription* is a Web Push device. A *notification* is a send with an
integer id (:class:`~pushgate.registry.pushpad_tables.PushpadNotification`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, true
from sqlalchemy.orm import Session

from pushgate.errors import ConfigurationError
from pushgate.registry._errors import ValidationError
from pushgate.registry.apps import require_app
from pushgate.registry.credential_cipher import CredentialCipher
from pushgate.registry.models import App, Device, Send, User
from pushgate.registry.pushpad_tables import PushpadNotification, PushpadSender
from pushgate.registry.tag_expressions import tag_condition
from pushgate.targeting.tag_expr import Expr

if TYPE_CHECKING:  # the crypto stack is imported when a sender is made: an idle server loads none
    from pushgate.crypto.vapid import VapidKey

PROJECT_KEY = "pushpad"  # the app setting holding the project's own attributes
SENDER_CIPHER_NAME = "pushpad-sender"  # sealed values are bound to (sender id, this name)
MAX_PER_PAGE = 100  # subscriptions per page (pushgate's bound; Pushpad's docs name none)


# --- projects -----------------------------------------------------------------


def project_attributes(app: App) -> dict[str, Any]:
    """The project fields kept with the app (website, sender_id)."""
    return dict((app.settings or {}).get(PROJECT_KEY) or {})


def set_project_attributes(session: Session, app_id: int, **changes: Any) -> App:
    app = require_app(session, app_id)
    settings = dict(app.settings or {})
    settings[PROJECT_KEY] = {**project_attributes(app), **changes}
    app.settings = settings  # a new dict: the JSON column is not mutation-tracked
    session.flush()
    return app


# --- senders ------------------------------------------------------------------


def create_sender(
    session: Session, name: str, private_key: str | None, public_key: str | None, cipher: CredentialCipher
) -> PushpadSender:
    """A sender with the given VAPID key pair (PEM), or a new pair when none is given."""
    key = _vapid_key(private_key, public_key)
    sender = PushpadSender(name=_name(name), config={}, vapid_public_key=public_pem(key))
    session.add(sender)
    session.flush()  # the id binds the sealed key to this sender
    private = {"vapid_private_key": key.private_pem().decode()}
    sender.config = cipher.seal(sender.id, SENDER_CIPHER_NAME, private)
    session.flush()
    return sender


def sender_private_key(sender: PushpadSender, cipher: CredentialCipher) -> str:
    """The sender's private key as PEM text."""
    return str(cipher.open(sender.id, SENDER_CIPHER_NAME, dict(sender.config))["vapid_private_key"])


def list_senders(session: Session) -> list[PushpadSender]:
    return list(session.scalars(select(PushpadSender).order_by(PushpadSender.id)))


def rename_sender(session: Session, sender: PushpadSender, name: str) -> None:
    sender.name = _name(name)
    session.flush()


def delete_sender(session: Session, sender: PushpadSender) -> None:
    session.delete(sender)
    session.flush()


def public_pem(key: VapidKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _vapid_key(private_key: str | None, public_key: str | None) -> VapidKey:
    from pushgate.crypto.vapid import VapidKey

    if private_key is None:
        if public_key is not None:
            raise ValidationError("vapid_private_key", "required with vapid_public_key")
        return VapidKey.generate()
    try:
        key = VapidKey.load(private_key)
    except ConfigurationError as exc:
        raise ValidationError("vapid_private_key", str(exc)) from None
    if public_key is not None and _normal_pem(public_key) != _normal_pem(public_pem(key)):
        raise ValidationError("vapid_public_key", "is not the public key of vapid_private_key")
    return key


def _normal_pem(text: str) -> str:
    return "".join(text.split())


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationError("name", "1 to 200 characters")
    return name


# --- notifications ------------------------------------------------------------


def record_notification(session: Session, app_id: int, send_id: str) -> int:
    """The integer id of ``send_id`` (made once: a replayed request gets the same id)."""
    found = session.scalar(select(PushpadNotification.id).where(PushpadNotification.send_id == send_id))
    if found is not None:
        return int(found)
    row = PushpadNotification(app_id=app_id, send_id=send_id)
    session.add(row)
    session.flush()
    return row.id


def notification_send(session: Session, notification_id: int) -> tuple[PushpadNotification, Send] | None:
    row = session.get(PushpadNotification, notification_id)
    if row is None:
        return None
    send = session.get(Send, row.send_id)
    return None if send is None else (row, send)


def list_notifications(
    session: Session, app_id: int, *, page: int, per_page: int
) -> list[tuple[PushpadNotification, Send]]:
    """A page (1-based) of the project's notifications, newest first."""
    rows = session.execute(
        select(PushpadNotification, Send).join(Send, Send.id == PushpadNotification.send_id)
        .where(PushpadNotification.app_id == app_id)
        .order_by(PushpadNotification.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    )
    return [(row[0], row[1]) for row in rows]


# --- subscriptions ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionPage:
    devices: list[Device]
    total: int  # every match, for X-Total-Count


def list_subscriptions(
    session: Session,
    app_id: int,
    *,
    provider: str,
    uids: Sequence[str] | None,
    expression: Expr | None,
    page: int,
    per_page: int,
) -> SubscriptionPage:
    """Active devices of ``provider`` filtered by users and tag expression, in id order.

    Pages are numbered from 1 (Pushpad's ``page``/``per_page``); the
    filter is the same SQL a send runs (:func:`tag_condition`).
    """
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError("per_page", f"from 1 to {MAX_PER_PAGE}")
    if page < 1:
        raise ValidationError("page", "from 1")
    conditions = [Device.app_id == app_id, Device.provider == provider, Device.active == true()]
    if uids is not None:
        conditions.append(Device.user_id.in_(
            select(User.id).where(User.app_id == app_id, User.external_id.in_(list(uids)))))
    if expression is not None:
        conditions.append(tag_condition(expression))
    total = session.scalar(select(func.count()).select_from(Device).where(*conditions)) or 0
    devices = list(session.scalars(
        select(Device).where(*conditions).order_by(Device.id).offset((page - 1) * per_page).limit(per_page)
    ))
    return SubscriptionPage(devices, int(total))


def delete_notifications_of(session: Session, app_id: int) -> None:
    """Forget the integer ids of an app's notifications (the sends go with the app)."""
    session.execute(delete(PushpadNotification).where(PushpadNotification.app_id == app_id))


__all__ = [
    "MAX_PER_PAGE",
    "SubscriptionPage",
    "create_sender",
    "delete_notifications_of",
    "delete_sender",
    "list_notifications",
    "list_senders",
    "list_subscriptions",
    "notification_send",
    "project_attributes",
    "public_pem",
    "record_notification",
    "rename_sender",
    "sender_private_key",
    "set_project_attributes",
]
