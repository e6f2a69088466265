"""An app's own defaults: notification fields a send leaves out, and its time zone.

Pushpad lets a project set default values for most notification fields
(title, icon, target URL, TTL, …: https://pushpad.xyz/docs/rest_api, "You can
set the default values for most fields in the project settings"); pushgate
keeps them with the app, in ``apps.settings``:

- ``notification_defaults``: Notification fields (:data:`DEFAULTABLE`) applied
  to a send that does not give them (``apply_defaults``: a field the request
  names, even as ``false``, is the request's);
- ``timezone``: the IANA zone of users who have none, for ``local_time``
  sends (docs/targeting.md §5); UTC when unset.

The app's secret for signed uids is the Web SDK's (:mod:`pushgate.registry.websdk`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError as PydanticError
from sqlalchemy.orm import Session

from pushgate.field_names import did_you_mean
from pushgate.notification import Notification
from pushgate.registry._errors import ValidationError
from pushgate.registry.apps import require_app
from pushgate.registry.validation import validate_timezone

DEFAULTABLE = frozenset({
    "title", "subtitle", "icon", "image", "badge_image", "url", "ttl", "priority", "sound",
    "require_interaction", "renotify", "silent", "category",
})
_NOTIFICATION_FIELDS = frozenset(
    name for field_name, field in Notification.model_fields.items()
    for name in (field_name, field.alias) if name
)
DEFAULTS_KEY = "notification_defaults"
TIMEZONE_KEY = "timezone"
DEFAULT_TIMEZONE = "UTC"


def notification_defaults(session: Session, app_id: int) -> dict[str, Any]:
    """The app's stored notification defaults ({} when none)."""
    return dict((require_app(session, app_id).settings or {}).get(DEFAULTS_KEY) or {})


def app_timezone(session: Session, app_id: int) -> str:
    """The zone of the app's users who have none of their own."""
    return str((require_app(session, app_id).settings or {}).get(TIMEZONE_KEY) or DEFAULT_TIMEZONE)


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


def checked_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validated defaults, as JSON: only :data:`DEFAULTABLE` fields, each of the Notification's type."""
    for name in values:
        if name not in DEFAULTABLE:
            # A real field a send must give itself (body, badge) is not a typo: only an unknown
            # name gets the did-you-mean, among the fields that can be defaulted.
            message = "cannot have an app default" if name in _NOTIFICATION_FIELDS else \
                f"unknown field {name!r}{did_you_mean(name, sorted(DEFAULTABLE))}"
            raise ValidationError(f"notification.{name}", message)
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
    "app_timezone",
    "apply_defaults",
    "checked_defaults",
    "notification_defaults",
    "set_app_defaults",
]
