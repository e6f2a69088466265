"""An app's own defaults: notification fields a send leaves out, its time zone, its uid secret.

Pushpad lets a project set default values for most notification fields
(title, icon, target URL, TTL, …: https://pushpad.xyz/docs/rest_api, "You can
set the default values for most fields in the project settings"); pushgate
keeps them with the app, in ``apps.settings``:

- ``notification_defaults``: Notification fields (:data:`DEFAULTABLE`) applied
  to a send that does not give them (``apply_defaults``: a field the request
  names, even as ``false``, is the request's);
- ``timezone``: the IANA zone of users who have none, for ``local_time``
  sends (docs/targeting.md §5); UTC when unset;
- ``uid_secret``: the key of signed uids (:mod:`pushgate.uid_signature`),
  never shown back by this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError as PydanticError
from sqlalchemy.orm import Session

from pushgate.notification import Notification
from pushgate.registry._errors import ValidationError
from pushgate.registry.apps import require_app
from pushgate.registry.validation import validate_timezone
from pushgate.uid_signature import verify_signature

DEFAULTABLE = frozenset({
    "title", "subtitle", "icon", "image", "badge_image", "url", "ttl", "priority", "sound",
    "require_interaction", "renotify", "silent", "category",
})
DEFAULTS_KEY = "notification_defaults"
TIMEZONE_KEY = "timezone"
UID_SECRET_KEY = "uid_secret"
MIN_UID_SECRET_LENGTH = 16
DEFAULT_TIMEZONE = "UTC"


def notification_defaults(session: Session, app_id: int) -> dict[str, Any]:
    """The app's stored notification defaults ({} when none)."""
    return dict((require_app(session, app_id).settings or {}).get(DEFAULTS_KEY) or {})


def app_timezone(session: Session, app_id: int) -> str:
    """The zone of the app's users who have none of their own."""
    return str((require_app(session, app_id).settings or {}).get(TIMEZONE_KEY) or DEFAULT_TIMEZONE)


def uid_secret(session: Session, app_id: int) -> str | None:
    """The key the app signs its user ids with, if it set one."""
    value = (require_app(session, app_id).settings or {}).get(UID_SECRET_KEY)
    return str(value) if value else None


def check_uid_signature(session: Session, app_id: int, uid: str, signature: str | None) -> None:
    """Refuse a browser-supplied ``uid`` whose signature does not match the app's uid secret.

    An app without a uid secret does not sign: any uid is taken. With one,
    the signature is required (422 naming ``uid_signature``).
    """
    secret = uid_secret(session, app_id)
    if secret is None:
        return
    if not signature:
        raise ValidationError("uid_signature", "required: the app signs its user ids")
    if not verify_signature(secret, uid, signature):
        raise ValidationError("uid_signature", "does not match the uid (hex HMAC-SHA256 with the uid secret)")


def set_app_defaults(
    session: Session,
    app_id: int,
    *,
    notification: Mapping[str, Any] | None = None,
    timezone: str | None = None,
    clear_timezone: bool = False,
) -> dict[str, Any]:
    """Replace the notification defaults and/or set the time zone; the stored values."""
    app = require_app(session, app_id)
    settings = dict(app.settings or {})
    if notification is not None:
        settings[DEFAULTS_KEY] = checked_defaults(notification)
    if timezone is not None:
        settings[TIMEZONE_KEY] = validate_timezone(timezone, "timezone")
    elif clear_timezone:
        settings.pop(TIMEZONE_KEY, None)
    app.settings = settings  # a new dict: the JSON column is not mutation-tracked
    session.flush()
    return {"notification": settings.get(DEFAULTS_KEY) or {}, "timezone": settings.get(TIMEZONE_KEY)}


def set_uid_secret(session: Session, app_id: int, secret: str | None) -> None:
    """Set (or, with None, remove) the app's uid signing key."""
    if secret is not None and (not isinstance(secret, str) or len(secret) < MIN_UID_SECRET_LENGTH):
        raise ValidationError("secret", f"at least {MIN_UID_SECRET_LENGTH} characters")
    app = require_app(session, app_id)
    settings = dict(app.settings or {})
    if secret is None:
        settings.pop(UID_SECRET_KEY, None)
    else:
        settings[UID_SECRET_KEY] = secret
    app.settings = settings
    session.flush()


def checked_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validated defaults, as JSON: only :data:`DEFAULTABLE` fields, each of the Notification's type."""
    for name in values:
        if name not in DEFAULTABLE:
            raise ValidationError(f"notification.{name}", "cannot have an app default")
    try:
        parsed = Notification.model_validate(dict(values))
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"notification.{where}", first["msg"]) from None
    return parsed.model_dump(mode="json", include=set(values), exclude_none=True)


def apply_defaults(notification: Notification, defaults: Mapping[str, Any]) -> Notification:
    """``notification`` with the defaults of the fields it does not set."""
    missing = {name: value for name, value in defaults.items()
               if name in DEFAULTABLE and name not in notification.model_fields_set}
    if not missing:
        return notification
    given = notification.model_dump(exclude_unset=True)
    return Notification.model_validate({**missing, **given})


__all__ = [
    "DEFAULTABLE",
    "DEFAULT_TIMEZONE",
    "UID_SECRET_KEY",
    "app_timezone",
    "apply_defaults",
    "check_uid_signature",
    "checked_defaults",
    "notification_defaults",
    "set_app_defaults",
    "set_uid_secret",
    "uid_secret",
]
