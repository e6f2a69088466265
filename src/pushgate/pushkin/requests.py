"""Pushkin request bodies → checked items, with every bad item named instead of dropped.

Pushkin's handlers (github.com/Nordeus/pushkin, ``pushkin/requesthandlers``)
answer 400 for an empty body or one that does not parse, and otherwise
silently skip every item missing a required field (``login_id``, ``title``
and ``content`` of a notification; ``user_id``, ``event_id`` and
``timestamp`` of an event). pushgate keeps the 400 for a body it cannot read
(:class:`BadBody`) and, for a readable body, returns the good items with
their index and the bad ones as :class:`ItemError` (index, field, reason),
so the route can answer 200 — what Pushkin's clients expect — and still say
what it did not take.

Beyond Pushkin's presence checks, values must have the documented types
(integers unquoted, strings quoted: docs/pushkin.md §2) and ids must fit
the protobuf types (``int64`` user ids, ``int32`` event ids). A quoted
decimal id (``"1337"``) is taken as the number: Pushkin's documentation
asks for numbers, but its handler passed the value to PostgreSQL, which
read such a string as the number, so clients that quote ids worked. An event's
``pairs`` is an object of strings in JSON; numbers are accepted and kept
as their decimal text, since Pushkin's own blacklist example sends them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from pushgate.registry.text import CONTROL_IN_TEXT, has_control_characters

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)
# Unix milliseconds a datetime can hold (years 1970..9999).
MAX_TIMESTAMP_MS = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)

T = TypeVar("T")
_DECIMAL = re.compile(r"-?[0-9]{1,19}")


class BadBody(ValueError):
    """The body as a whole cannot be read (Pushkin answers 400 too)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ItemError:
    """One item of the batch that was not taken, and why."""

    index: int
    field: str  # e.g. "notifications[3].login_id"
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class PushkinNotification:
    login_id: int
    title: str
    content: str
    screen: str | None


class PushkinEvent(NamedTuple):  # a named tuple, as pushgate.service.events.EventIn (why: there)
    user_id: int
    event_id: int
    timestamp: datetime  # aware UTC, from Pushkin's Unix milliseconds
    pairs: dict[str, str]


@dataclass(slots=True)
class Parsed(Generic[T]):
    items: list[tuple[int, T]] = field(default_factory=list)  # (index in the batch, item)
    errors: list[ItemError] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.items) + len(self.errors)


class _Bad(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason


# -- notifications -----------------------------------------------------------------------


def notifications_from_json(body: bytes) -> Parsed[PushkinNotification]:
    out: Parsed[PushkinNotification] = Parsed()
    for index, item in enumerate(_json_list(body, "notifications")):
        try:
            obj = _object(item)
            out.items.append((index, PushkinNotification(
                login_id=_int(obj, "login_id", INT64),
                title=_text(obj, "title"),
                content=_text(obj, "content"),
                screen=_text(obj, "screen") if obj.get("screen") is not None else None,
            )))
        except _Bad as bad:
            out.errors.append(_item_error("notifications", index, bad))
    return out


def notifications_from_proto(body: bytes) -> Parsed[PushkinNotification]:
    from pushgate.pushkin import proto  # on first use: an idle server does not load protobuf (~2 MB)

    request = _parse_proto(proto.BatchNotificationRequest(), body)
    out: Parsed[PushkinNotification] = Parsed()
    for index, item in enumerate(request.notifications):
        missing = [name for name in ("login_id", "title", "content") if not item.HasField(name)]
        if missing:
            out.errors.append(ItemError(index, f"notifications[{index}].{missing[0]}", "is required"))
            continue
        try:
            out.items.append((index, PushkinNotification(
                item.login_id, _clean(item.title, "title"), _clean(item.content, "content"),
                _clean(item.screen, "screen") if item.HasField("screen") else None,
            )))
        except _Bad as bad:
            out.errors.append(_item_error("notifications", index, bad))
    return out


# -- events --------------------------------------------------------------------------------


def events_from_json(body: bytes) -> Parsed[PushkinEvent]:
    out: Parsed[PushkinEvent] = Parsed()
    for index, item in enumerate(_json_list(body, "events")):
        try:
            obj = _object(item)
            out.items.append((index, PushkinEvent(
                user_id=_int(obj, "user_id", INT64),
                event_id=_int(obj, "event_id", INT32),
                timestamp=_timestamp(_int(obj, "timestamp", INT64), "timestamp"),
                pairs=_pairs(obj.get("pairs")),
            )))
        except _Bad as bad:
            out.errors.append(_item_error("events", index, bad))
    return out


def events_from_proto(body: bytes) -> Parsed[PushkinEvent]:
    from pushgate.pushkin import proto

    request = _parse_proto(proto.BatchEventRequest(), body)
    out: Parsed[PushkinEvent] = Parsed()
    add = out.items.append
    # Per event and pair, the cheap way (a request carries thousands): no list of missing
    # fields, HasField only for an empty string (a non-empty one was on the wire), and the
    # control-character pattern called directly; _clean runs only to name a bad field.
    bad_text = CONTROL_IN_TEXT.search
    for index, item in enumerate(request.events):
        try:
            has = item.HasField
            if not (has("user_id") and has("event_id") and has("timestamp")):
                raise _Bad(next(name for name in _EVENT_REQUIRED if not has(name)), "is required")
            pairs: dict[str, str] = {}
            for number, pair in enumerate(item.pairs):
                key, value = pair.key, pair.value
                # Pair.key and Pair.value are `required`; the runtime parses a pair without them.
                if not ((key or pair.HasField("key")) and (value or pair.HasField("value"))):
                    raise _Bad(f"pairs[{number}]", "a pair needs both key and value")
                if bad_text(key) or bad_text(value):
                    _clean(key, f"pairs[{number}].key")
                    _clean(value, f"pairs[{number}].value")
                pairs[key] = value
            add((index, PushkinEvent(item.user_id, item.event_id, _timestamp(item.timestamp, "timestamp"),
                                     pairs)))
        except _Bad as bad:
            out.errors.append(_item_error("events", index, bad))
    return out


_EVENT_REQUIRED = ("user_id", "event_id", "timestamp")  # in the order their absence is reported


# -- helpers ------------------------------------------------------------------------------


def _parse_proto(message: Any, body: bytes) -> Any:
    from google.protobuf.message import DecodeError

    if not body:
        raise BadBody("body", "the body is empty")
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise BadBody("body", f"not a serialized {type(message).__name__}: {exc}") from None
    return message


def _json_list(body: bytes, key: str) -> list[Any]:
    if not body or not body.strip():
        raise BadBody("body", "the body is empty")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody("body", f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadBody("body", f'must be an object with a "{key}" list')
    items = document.get(key)
    if not isinstance(items, list):
        raise BadBody(key, "must be a list")
    return items


def _item_error(kind: str, index: int, bad: _Bad) -> ItemError:
    where = f"{kind}[{index}]" + (f".{bad.field}" if bad.field else "")
    return ItemError(index, where, bad.reason)


def _object(item: Any) -> Mapping[str, Any]:
    if not isinstance(item, dict):
        raise _Bad("", "must be an object")
    return item


def _int(obj: Mapping[str, Any], name: str, bounds: tuple[int, int]) -> int:
    if name not in obj:
        raise _Bad(name, "is required")
    value = obj[name]
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Bad(name, "must be an integer")
    if not bounds[0] <= value <= bounds[1]:
        raise _Bad(name, f"must be between {bounds[0]} and {bounds[1]}")
    return value


def _text(obj: Mapping[str, Any], name: str) -> str:
    if name not in obj:
        raise _Bad(name, "is required")
    value = obj[name]
    if not isinstance(value, str):
        raise _Bad(name, "must be a string")
    return _clean(value, name)


def _clean(value: str, name: str) -> str:
    # A NUL cannot be stored by PostgreSQL; no text field takes control characters
    # other than tab and line breaks (pushgate.server.text_guard checks JSON bodies the same way).
    if has_control_characters(value, in_text=True):
        raise _Bad(name, "must not contain control characters")
    return value


def _timestamp(millis: int, name: str) -> datetime:
    if not 0 <= millis <= MAX_TIMESTAMP_MS:
        raise _Bad(name, "must be Unix time in milliseconds, 0 or later")
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def _pairs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad("pairs", "must be an object of strings")
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, str):
            out[_clean(key, f"pairs.{key}")] = _clean(item, f"pairs.{key}")
        elif isinstance(item, int) and not isinstance(item, bool):
            out[key] = str(item)
        else:
            raise _Bad(f"pairs.{key}", "must be a string")
    return out


__all__ = [
    "BadBody", "ItemError", "Parsed", "PushkinEvent", "PushkinNotification", "events_from_json",
    "events_from_proto", "notifications_from_json", "notifications_from_proto",
]
