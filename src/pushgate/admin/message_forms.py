"""The Templates pages' forms → the JSON shapes the catalog's service functions take.

Nothing is checked here beyond turning text into numbers, lists and
objects: a value that is not a number is passed on as it was typed, so
:func:`pushgate.service.catalog.check_message` refuses it with the same
message and field name ``PUT /v1/messages/{name}`` answers with
(docs/events.md §1). Form names follow the API's fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pushgate.registry import ValidationError
from pushgate.registry.catalog.messages import MessageView

_SPLIT = re.compile(r"[\s,]+")
MESSAGE_FIELDS = ("name", "events", "cooldown", "expiry", "screen", "priority", "quiet_hours", "extras",
                  "language", "title", "body")


def _number(raw: str) -> int | str:
    """An integer when the text is one; else the text, for the catalog's check to refuse by name."""
    try:
        return int(raw)
    except ValueError:
        return raw


def message_data(get: Callable[[str], str], *, with_localization: bool) -> dict[str, Any]:
    """A message's JSON (the API's ``MessageIn``) from the form.

    With ``with_localization`` (the "new message" form) a first language's
    title and body go in ``localizations``; editing leaves the set alone.
    """
    data: dict[str, Any] = {
        "events": [_number(value) for value in _SPLIT.split(get("events")) if value],
        "cooldown": _number(get("cooldown") or "0"),
        "screen": get("screen") or None,
        "priority": get("priority") or None,
        "quiet_hours": get("quiet_hours") or "deliver",
    }
    if get("expiry"):
        data["expiry"] = _number(get("expiry"))
    extras = get("extras")
    if extras:
        try:
            data["extras"] = json.loads(extras)
        except ValueError as exc:
            raise ValidationError("extras", f"not JSON: {exc}") from None
    if with_localization and (get("title") or get("body")):
        data["localizations"] = {get("language") or "en": {"title": get("title"), "body": get("body")}}
    return data


def message_values(view: MessageView) -> dict[str, str]:
    """A stored message as the edit form's values."""
    fields = view.fields
    return {
        "name": view.name,
        "events": ", ".join(str(event) for event in fields.events),
        "cooldown": str(fields.cooldown),
        "expiry": "" if fields.expiry is None else str(fields.expiry),
        "screen": fields.screen or "",
        "priority": fields.priority or "",
        "quiet_hours": fields.quiet_hours,
        "extras": json.dumps(dict(fields.extras), indent=2) if fields.extras else "",
    }


def preview_params(raw: str) -> dict[str, str]:
    """``name=value`` lines → the preview's parameters (a value may contain ``=`` and braces)."""
    params: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValidationError("params", f"line {number}: write name=value")
        params[name.strip()] = value.strip()
    return params


__all__ = ["MESSAGE_FIELDS", "message_data", "message_values", "preview_params"]
