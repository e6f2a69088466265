"""Who a send is for: the target object, validated once and stored with the send.

A target names exactly one audience —

- ``{"tokens": [...]}``: registered devices by token (any provider),
- ``{"device_ids": [...]}``: devices by registry id,
- ``{"users": [...]}``: every active device of these users (the app's ids),
- ``{"all": true}``: every active device of the app —

optionally narrowed by ``platforms``, ``providers`` and ``tags`` (any of the
tags, on the device or its user), and a ``topic``: users who opted out of
that topic, or of everything ("*"), are skipped. Lists are de-duplicated
(order kept) so the planner can page through them without seeing a device
twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pushgate.registry._errors import ValidationError
from pushgate.registry.constants import MAX_ID, MAX_TARGET_LIST, Platform, ProviderName
from pushgate.registry.text import check_name
from pushgate.registry.validation import validate_choice, validate_tags

AUDIENCES = ("tokens", "device_ids", "users", "all")
FILTERS = ("platforms", "providers", "tags", "topic")


@dataclass(frozen=True, slots=True)
class Target:
    audience: str  # one of AUDIENCES
    values: tuple[Any, ...] = ()  # the tokens, device ids or user ids ("all": empty)
    platforms: tuple[str, ...] | None = None
    providers: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    topic: str | None = None

    @classmethod
    def parse(cls, target: Mapping[str, Any]) -> Target:
        """Validate a target object; errors name the field (``target.users``)."""
        if not isinstance(target, Mapping):
            raise ValidationError("target", "must be an object")
        for key in target:
            if key not in AUDIENCES and key not in FILTERS:
                raise ValidationError(f"target.{key}", "unknown field")
        given = [key for key in AUDIENCES if target.get(key) not in (None, False)]
        if len(given) != 1:
            raise ValidationError("target", "give exactly one of tokens, device_ids, users or all")
        audience = given[0]
        values: tuple[Any, ...] = ()
        if audience == "all":
            if target["all"] is not True:
                raise ValidationError("target.all", "must be true")
        else:
            values = _list(target[audience], f"target.{audience}", int if audience == "device_ids" else str)
        return cls(
            audience=audience,
            values=values,
            platforms=_choices(target.get("platforms"), Platform, "target.platforms"),
            providers=_choices(target.get("providers"), ProviderName, "target.providers"),
            tags=tuple(validate_tags(target["tags"], "target.tags")) if target.get("tags") else None,
            topic=_topic(target.get("topic")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.audience: True if self.audience == "all" else list(self.values)}
        for name in FILTERS:
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out


def normalize_target(target: Mapping[str, Any]) -> dict[str, Any]:
    """The validated, de-duplicated target as stored."""
    return Target.parse(target).to_json()


def _list(value: Any, field: str, kind: type) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError(field, "must be a non-empty list")
    if len(value) > MAX_TARGET_LIST:
        raise ValidationError(field, f"at most {MAX_TARGET_LIST} entries; use tags or all for more")
    for item in value:
        if not isinstance(item, kind) or isinstance(item, bool) or (kind is str and not item):
            expected = "integers" if kind is int else "non-empty strings"
            raise ValidationError(field, f"entries must be {expected}")
        if isinstance(item, str):
            check_name(item, field)
        if isinstance(item, int) and not 0 < item <= MAX_ID:
            raise ValidationError(field, f"entries must be ids from 1 to {MAX_ID}")
    return tuple(dict.fromkeys(value))


def _choices(
    value: Any, choices: type[Platform] | type[ProviderName], field: str
) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError(field, "must be a non-empty list")
    return tuple(dict.fromkeys(validate_choice(item, choices, field).value for item in value))


def _topic(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 100:
        raise ValidationError("target.topic", "1 to 100 characters")
    return check_name(value, "target.topic")
