"""Who a send is for: the target object, validated once and stored with the send.

A target names exactly one audience —

- ``{"tokens": [...]}``: registered devices by token (any provider),
- ``{"device_ids": [...]}``: devices by registry id,
- ``{"users": [...]}``: every active device of these users (the app's ids),
- ``{"all": true}``: every active device of the app —

optionally narrowed by ``platforms``, ``providers`` and ``tags`` — a tag
expression as Pushpad's (``"a && !b || c"``), or a list of them OR-ed (a list
of plain tags: any of them), matched against the tags of the device and of
its user (docs/targeting.md) — and a ``topic``: users who opted out of
that topic, or of everything ("*"), are skipped. Lists are de-duplicated
(order kept) so the planner can page through them without seeing a device
twice.

Or an FCM audience that FCM itself resolves, sent as one request (nothing
else may be given with it):

- ``{"topic": "deals"}`` alone: everyone subscribed to the FCM topic (with a
  device audience, ``topic`` stays the opt-out filter above);
- ``{"condition": "'a' in topics && !('b' in topics)"}``: an FCM topic
  condition (docs/protocols/fcm.md §4.2: at most five topics, ``in topics``,
  ``&&``, ``||``, ``!``, parentheses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pushgate.field_names import unknown_field
from pushgate.registry._errors import ValidationError
from pushgate.registry.constants import MAX_ID, MAX_TARGET_LIST, Platform, ProviderName
from pushgate.registry.tag_expressions import parse_tags_field
from pushgate.registry.text import check_name
from pushgate.registry.validation import validate_choice, validate_timezone
from pushgate.targeting.tag_expr import Expr, parse_expressions

AUDIENCES = ("tokens", "device_ids", "users", "all")
FILTERS = ("platforms", "providers", "tags", "topic", "timezones")
FCM_AUDIENCES = ("topic", "condition")  # resolved by FCM: one request, one delivery row
MAX_FCM_TOPIC_LENGTH = 900  # firebase.google.com/docs/cloud-messaging/send-message#send-messages-to-topics


@dataclass(frozen=True, slots=True)
class Target:
    audience: str  # one of AUDIENCES
    values: tuple[Any, ...] = ()  # the tokens, device ids or user ids ("all": empty)
    platforms: tuple[str, ...] | None = None
    providers: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None  # tag expressions, OR-ed
    topic: str | None = None
    # Local-time sends (docs/targeting.md §5): only devices whose zone — the user's, else the
    # device's — is one of these; "" stands for devices with neither (the app's zone).
    timezones: tuple[str, ...] | None = None

    @property
    def tag_expression(self) -> Expr | None:
        """``tags`` as one tree (None: no tag condition)."""
        return parse_expressions(list(self.tags)) if self.tags else None

    @property
    def fcm(self) -> bool:
        """An FCM topic or condition: one request, which FCM fans out itself."""
        return self.audience in FCM_AUDIENCES

    @classmethod
    def parse(cls, target: Mapping[str, Any]) -> Target:
        """Validate a target object; errors name the field (``target.users``)."""
        if not isinstance(target, Mapping):
            raise ValidationError("target", "must be an object")
        for key in target:
            if key not in AUDIENCES and key not in FILTERS and key != "condition":
                known = (*AUDIENCES, *FILTERS, "condition")
                raise ValidationError(f"target.{key}", unknown_field(key, known))
        if "condition" in target or (
            "topic" in target and not any(target.get(key) not in (None, False) for key in AUDIENCES)
        ):
            return cls._fcm(target)
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
            tags=_tags(target.get("tags")),
            topic=_topic(target.get("topic")),
            timezones=_timezones(target.get("timezones")),
        )

    @classmethod
    def _fcm(cls, target: Mapping[str, Any]) -> Target:
        # Imported here: an idle server loads no provider's send stack (tests/cli/test_cli_serve_imports.py).
        from pushgate.providers.fcm.payload import TOPIC_RE, condition_topics

        audience = "condition" if "condition" in target else "topic"
        for key in target:
            if key != audience:
                raise ValidationError(f"target.{key}", f"cannot be combined with an FCM {audience}")
        value = target[audience]
        field = f"target.{audience}"
        if not isinstance(value, str) or not value:
            raise ValidationError(field, "must be a non-empty string")
        if audience == "topic":
            name = value.removeprefix("/topics/")  # the prefix the SDKs accept and drop
            if not TOPIC_RE.fullmatch(name) or len(name) > MAX_FCM_TOPIC_LENGTH:
                raise ValidationError(field, f"must match [a-zA-Z0-9-_.~%]{{1,{MAX_FCM_TOPIC_LENGTH}}}")
            return cls(audience=audience, values=(name,))
        try:
            condition_topics(value)
        except ValueError as exc:
            raise ValidationError(field, str(exc)) from None
        return cls(audience=audience, values=(value,))

    def to_json(self) -> dict[str, Any]:
        if self.fcm:
            return {self.audience: self.values[0]}
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


def _tags(value: Any) -> tuple[str, ...] | None:
    """A tag expression or a list of them, checked (422 naming the position), stored as a list."""
    if value is None or value == []:
        return None
    if isinstance(value, str):
        parse_tags_field(value, "target.tags")
        return (value.strip(),)
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValidationError("target.tags", "a tag expression or a list of them")
    parse_tags_field(list(value), "target.tags")
    return tuple(dict.fromkeys(item.strip() for item in value))


def _timezones(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError("target.timezones", "a non-empty list of IANA zone names")
    return tuple(dict.fromkeys(validate_timezone(v, "target.timezones") if v else v for v in value))


def _topic(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 100:
        raise ValidationError("target.topic", "1 to 100 characters")
    return check_name(value, "target.topic")
