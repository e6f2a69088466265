"""Who a send from the compose page is for: the form's audience → the API's target object.

The audiences are the ones ``POST /v1/sends`` takes (registry
:mod:`pushgate.registry.targets`): named tokens, users, devices matching a
tag expression (Pushpad's syntax, docs/targeting.md), or everyone,
optionally narrowed to providers. The count shown before a broadcast is
:func:`pushgate.planner.count_audience`, the ``COUNT`` the submit path
answers with; the live count while typing an expression is
:func:`pushgate.registry.audience.measure_audience`, what ``POST /v1/audience``
answers.

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
from pushgate.targeting.tag_expr import OPERATOR_CHARACTERS

AUDIENCES = {
    "tokens": "Device tokens",
    "users": "Users",
    "tags": "Devices matching a tag expression",
    "all": "Everyone",
}
BROADCASTS = frozenset({"tags", "all"})  # confirmed before sending, with their audience count
_SPLIT = re.compile(r"[\s,]+")


def _values(raw: str) -> list[str]:
    return [value for value in _SPLIT.split(raw) if value]


def tags_of_form(raw: str) -> str | list[str]:
    """The form's tag text → the target's ``tags``.

    With an operator (``&& || ! ( )``) the text is one expression, sent as
    typed so a parse error's position points into what the user sees.
    Without one it is a list of tags, any of them (what this field meant
    before expressions, and the same as ``a || b``).
    """
    if OPERATOR_CHARACTERS.intersection(raw):
        return raw.strip() and raw
    return _values(raw)


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
        tags = tags_of_form(get("audience_values"))
        if not tags:
            raise ValidationError("target.tags", "give a tag or a tag expression")
        target = {"all": True, "tags": tags}
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
