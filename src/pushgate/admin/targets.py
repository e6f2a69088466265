"""Who a send from the compose page is for: the form's audience → the API's target object.

The audiences are the ones ``POST /v1/sends`` takes today (registry
:mod:`pushgate.registry.targets`): named tokens, users, devices carrying any
of some tags, or everyone, optionally narrowed to providers. The count shown
before a broadcast is :func:`pushgate.planner.count_audience`, the ``COUNT``
the submit path answers with.

This module is the one place the admin UI builds targets: richer audiences
(tag expressions, saved segments) plug in here, in :func:`target_from_form`
and :data:`AUDIENCES`, without touching the pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from pushgate.planner import count_audience
from pushgate.registry import Target, ValidationError

AUDIENCES = {
    "tokens": "Device tokens",
    "users": "Users",
    "tags": "Devices with any of these tags",
    "all": "Everyone",
}
BROADCASTS = frozenset({"tags", "all"})  # confirmed before sending, with their audience count
_SPLIT = re.compile(r"[\s,]+")


def _values(raw: str) -> list[str]:
    return [value for value in _SPLIT.split(raw) if value]


def target_from_form(get: Callable[[str], str], providers: list[str]) -> dict[str, Any]:
    """The target object of the compose form (validated by :meth:`Target.parse`)."""
    audience = get("audience") or "tokens"
    values = _values(get("audience_values"))
    target: dict[str, Any]
    if audience == "tokens":
        target = {"tokens": values}
    elif audience == "users":
        target = {"users": values}
    elif audience == "tags":
        if not values:
            raise ValidationError("target.tags", "give at least one tag")
        target = {"all": True, "tags": values}
    elif audience == "all":
        target = {"all": True}
    else:
        raise ValidationError("target", f"one of {', '.join(AUDIENCES)}")
    if providers:
        target["providers"] = providers
    Target.parse(target)
    return target


def audience_count(session: Session, app_id: int, target: dict[str, Any]) -> int:
    return count_audience(session, app_id, Target.parse(target))
