"""The message catalog as the API and the command line use it: checked, then stored.

Every check names the field it refuses (a :class:`ValidationError`, 422 in
the API), so a catalog file imported with ``pushgate messages import``
fails the same way a ``PUT /v1/messages/{name}`` does. The rules are in
docs/events.md §1:

- a name is 1 to 100 characters of letters, digits, ``_``, ``-`` and ``.`` (it
  is a URL path segment);
- trigger event ids are positive 32-bit integers outside the range
  4000-4999 reserved for predefined events, and not the app's configured
  login or opt-out event ids;
- ``cooldown`` and ``expiry`` are seconds (cooldown ≥ 0, expiry > 0 or none);
- titles and bodies are templates (:mod:`pushgate.service.templates`),
  parsed when saved;
- ``extras`` are further :class:`~pushgate.notification.Notification`
  fields (sound, badge, data, image, the per-provider override blocks …),
  validated by the notification model itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pydantic
from sqlalchemy.orm import Session

from pushgate.field_names import unknown_field
from pushgate.notification import Notification, Priority
from pushgate.registry import Database, NotFound, ValidationError
from pushgate.registry.catalog.messages import (
    Localization,
    MessageFields,
    MessageView,
    get_event_settings,
    list_messages,
    put_localization,
    put_message,
    set_event_settings,
)
from pushgate.registry.catalog.tables import EVENT_SETTINGS_DEFAULTS, RESERVED_EVENTS
from pushgate.registry.validation import validate_locale
from pushgate.service.templates import check

NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
MAX_EVENT_ID = 2**31 - 1
MAX_SECONDS = 10 * 365 * 86400
QUIET_HOURS_ACTIONS = ("deliver", "hold", "drop")
# Fields a message sets itself; extras may not.
_OWN_FIELDS = frozenset({"title", "body", "url", "priority", "expiration"})
_TIME_RE = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def check_name(name: str, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValidationError(field, "1 to 100 letters, digits, '_', '-' or '.'")
    return name


def check_language(language: str, field: str) -> str:
    if not isinstance(language, str) or len(language) > 35:
        raise ValidationError(field, "a language tag like 'en' or 'pt-BR'")
    return validate_locale(language, field).lower()


def _seconds(value: Any, field: str, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_SECONDS:
        raise ValidationError(field, f"whole seconds from {minimum} to {MAX_SECONDS}")
    return value


def check_event_id(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_EVENT_ID:
        raise ValidationError(field, f"an integer from 1 to {MAX_EVENT_ID}")
    return value


def check_localization(title: Any, body: Any, field: str) -> Localization:
    for name, value in (("title", title), ("body", body)):
        if not isinstance(value, str) or len(value) > 4000:
            raise ValidationError(f"{field}.{name}", "a string of at most 4000 characters")
        check(value, f"{field}.{name}")
    if not title and not body:
        raise ValidationError(f"{field}.body", "a title or a body is required")
    return Localization(title, body)


def check_message(
    data: Mapping[str, Any], settings: Mapping[str, Any]
) -> tuple[MessageFields, dict[str, Localization] | None]:
    """A message body (the API's JSON / a catalog file entry) → fields and localizations."""
    known = {"name", "events", "cooldown", "expiry", "screen", "priority", "quiet_hours", "extras",
             "localizations"}
    for key in data:
        if key not in known:
            raise ValidationError(key, unknown_field(key, known))
    events = data.get("events")
    if not isinstance(events, list | tuple) or not events:
        raise ValidationError("events", "a non-empty list of event ids")
    predefined = {settings["login_event_id"], settings["optout_event_id"]}
    ids: list[int] = []
    for i, value in enumerate(events):
        event_id = check_event_id(value, f"events[{i}]")
        if event_id in RESERVED_EVENTS or event_id in predefined:
            raise ValidationError(f"events[{i}]", f"{event_id} is reserved for predefined events "
                                  f"({RESERVED_EVENTS.start} to {RESERVED_EVENTS.stop - 1})")
        if event_id not in ids:
            ids.append(event_id)
    cooldown = _seconds(data.get("cooldown", 0), "cooldown", minimum=0)
    expiry = data.get("expiry")
    if expiry is not None:
        expiry = _seconds(expiry, "expiry", minimum=1)
    screen = data.get("screen")
    if screen is not None and (not isinstance(screen, str) or len(screen) > 500):
        raise ValidationError("screen", "a string of at most 500 characters")
    priority = data.get("priority")
    if priority is not None and priority not in {p.value for p in Priority}:
        raise ValidationError("priority", f"one of {', '.join(p.value for p in Priority)}")
    quiet = data.get("quiet_hours", "deliver")
    if quiet not in QUIET_HOURS_ACTIONS:
        raise ValidationError("quiet_hours", f"one of {', '.join(QUIET_HOURS_ACTIONS)}")
    extras = data.get("extras") or {}
    _check_extras(extras)
    localizations = None
    if data.get("localizations") is not None:
        raw = data["localizations"]
        if not isinstance(raw, Mapping):
            raise ValidationError("localizations", "an object: language → {title, body}")
        localizations = {}
        for language, text in raw.items():
            field = f"localizations.{language}"
            if not isinstance(text, Mapping):
                raise ValidationError(field, "an object with title and body")
            localizations[check_language(language, field)] = check_localization(
                text.get("title", ""), text.get("body", ""), field)
    fields = MessageFields(events=tuple(ids), cooldown=cooldown, expiry=expiry, screen=screen or None,
                           priority=priority, quiet_hours=quiet, extras=dict(extras))
    return fields, localizations


def _check_extras(extras: Any) -> None:
    if not isinstance(extras, Mapping):
        raise ValidationError("extras", "an object of notification fields")
    for key in extras:
        if key in _OWN_FIELDS:
            raise ValidationError(f"extras.{key}", "set by the message itself")
    try:
        Notification.model_validate({"title": "x", **extras})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"extras.{where}" if where else "extras", first["msg"]) from None


def check_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Event settings changes, checked (unknown names are refused)."""
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        field = f"settings.{name}"
        if name not in EVENT_SETTINGS_DEFAULTS:
            raise ValidationError(field, "unknown setting")
        if value is None:
            if name in ("default_language", "login_event_id", "optout_event_id", "frequency_window"):
                raise ValidationError(field, "cannot be null")
        elif name == "default_language":
            value = check_language(value, field)
        elif name == "deep_link_base":
            if not isinstance(value, str) or len(value) > 500:
                raise ValidationError(field, "a string of at most 500 characters")
        elif name in ("login_event_id", "optout_event_id"):
            value = check_event_id(value, field)
        elif name == "frequency_cap":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(field, "a positive integer or null")
        elif name == "frequency_window":
            value = _seconds(value, field, minimum=1)
        elif not isinstance(value, str) or not _TIME_RE.fullmatch(value):
            raise ValidationError(field, "a time of day 'HH:MM' or null")
        clean[name] = value
    return clean


# --- service functions (API and command line) ------------------------------------------------


def save_message(
    session: Session, app_id: int, name: str, data: Mapping[str, Any]
) -> tuple[MessageView, bool]:
    """Create or replace a message from its JSON form; returns it and whether it was created."""
    check_name(name)
    if "name" in data and data["name"] != name:
        raise ValidationError("name", "differs from the name in the path")
    fields, localizations = check_message(data, get_event_settings(session, app_id))
    return put_message(session, app_id, name, fields, localizations)


def save_localization(
    session: Session, app_id: int, name: str, language: str, data: Mapping[str, Any]
) -> bool:
    """Create or replace one localization; True if created. NotFound when the message is missing."""
    tag = check_language(language, "language")
    text = check_localization(data.get("title", ""), data.get("body", ""), "localization")
    created = put_localization(session, app_id, name, tag, text)
    if created is None:
        raise NotFound("message", name)
    return created


def update_settings(session: Session, app_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    clean = check_settings(changes)
    merged = {**get_event_settings(session, app_id), **clean}
    if (merged["quiet_start"] is None) != (merged["quiet_end"] is None):
        raise ValidationError("settings.quiet_end", "quiet_start and quiet_end are set together")
    if merged["login_event_id"] == merged["optout_event_id"]:
        raise ValidationError("settings.optout_event_id", "must differ from login_event_id")
    for message in list_messages(session, app_id):
        for event_id in (merged["login_event_id"], merged["optout_event_id"]):
            if event_id in message.fields.events:
                raise ValidationError("settings", f"event {event_id} triggers message {message.name!r}")
    return set_event_settings(session, app_id, clean)


def message_json(view: MessageView) -> dict[str, Any]:
    """A message in the API's and catalog files' shape."""
    f = view.fields
    return {
        "name": view.name, "events": list(f.events), "cooldown": f.cooldown, "expiry": f.expiry,
        "screen": f.screen, "priority": f.priority, "quiet_hours": f.quiet_hours, "extras": dict(f.extras),
        "localizations": {lang: {"title": t.title, "body": t.body} for lang, t in view.localizations.items()},
    }


def export_catalog(db: Database, app_id: int) -> dict[str, Any]:
    """The app's catalog and event settings, as ``pushgate messages export`` writes them."""
    with db.session(write=False) as session:
        return {"settings": get_event_settings(session, app_id),
                "messages": [message_json(view) for view in list_messages(session, app_id)]}


def import_catalog(db: Database, app_id: int, document: Mapping[str, Any]) -> tuple[int, int]:
    """Store a catalog document in one transaction; returns (created, updated) message counts."""
    if not isinstance(document, Mapping):
        raise ValidationError("document", "an object with 'messages' (and optionally 'settings')")
    messages = document.get("messages", [])
    if not isinstance(messages, list):
        raise ValidationError("messages", "a list of messages")
    created = updated = 0
    with db.session() as session:
        if document.get("settings"):
            update_settings(session, app_id, document["settings"])
        for i, entry in enumerate(messages):
            if not isinstance(entry, Mapping) or "name" not in entry:
                raise ValidationError(f"messages[{i}]", "an object with a name")
            try:
                _, new = save_message(session, app_id, str(entry["name"]), entry)
            except ValidationError as exc:
                raise ValidationError(f"messages[{i}].{exc.field}", exc.message) from None
            created += new
            updated += not new
    return created, updated


def deep_link(base: str | None, screen: str | None) -> str | None:
    """The message's screen joined to the app's deep-link base when it is relative.

    A screen with a scheme (``myapp://…``, ``https://…``) is used as it is.
    """
    if not screen:
        return None
    if re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", screen) or not base:
        return screen
    return f"{base.rstrip('/')}/{screen.lstrip('/')}"


__all__ = [
    "QUIET_HOURS_ACTIONS",
    "check_message",
    "check_name",
    "check_settings",
    "deep_link",
    "export_catalog",
    "import_catalog",
    "message_json",
    "save_localization",
    "save_message",
    "update_settings",
]
