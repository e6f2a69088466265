"""The FCM simulator's request validator (docs/protocols/fcm.md §4.1, §4.2 and §8).

FCM parses the body as the ``SendMessageRequest`` proto in its JSON mapping,
so it rejects unknown fields and values of the wrong type before it looks at
the meaning: those failures carry a ``google.rpc.BadRequest`` with
``fieldViolations`` and Google's parser wording (``Invalid value at
'message.data[0].value' (TYPE_STRING), 12``). The semantic checks that
follow (reserved data keys, TTL range, HTTPS link, analytics label, topic
and condition syntax) also name an ``FcmError`` ``INVALID_ARGUMENT``.

Proto3 JSON accepts both the ``lowerCamelCase`` and the original
``snake_case`` spelling of every field, and enum values by name or number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pushgate.simulators._fcm_wire import (
    MAX_TTL,
    RESERVED_DATA_KEYS,
    RESERVED_DATA_PREFIXES,
    TARGET_FIELDS,
    TOPIC_RE,
    condition_topics,
)

_PKG = "type.googleapis.com/google.firebase.fcm.v1."
DURATION_RE = re.compile(r"^-?\d+(\.\d{1,9})?s$")
ANALYTICS_LABEL_RE = re.compile(r"^[a-zA-Z0-9\-_.~%]{1,50}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True, slots=True)
class Scalar:
    kind: str  # TYPE_STRING, TYPE_BOOL, TYPE_INT32, TYPE_FLOAT, Duration, Timestamp, Struct


@dataclass(frozen=True, slots=True)
class Enum:
    name: str
    values: tuple[str, ...]
    any_case: bool = False  # the SDKs send android priority in lowercase

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return 0 <= value < len(self.values)
        if isinstance(value, str):
            return (value.upper() if self.any_case else value) in self.values
        return False


@dataclass(frozen=True, slots=True)
class Repeated:
    item: Spec


@dataclass(frozen=True, slots=True)
class MapOf:
    value: Spec


@dataclass(frozen=True, slots=True)
class Msg:
    name: str
    fields: dict[str, Spec]
    # JSON name → field name: proto3 JSON accepts lowerCamelCase and snake_case.
    aliases: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = {name: name for name in self.fields}
        table.update({_camel(name): name for name in self.fields})
        object.__setattr__(self, "aliases", table)


Spec = Scalar | Enum | Repeated | MapOf | Msg

def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


STR = Scalar("TYPE_STRING")
BOOL = Scalar("TYPE_BOOL")
INT = Scalar("TYPE_INT32")
FLOAT = Scalar("TYPE_FLOAT")
DURATION = Scalar("Duration")
TIMESTAMP = Scalar("Timestamp")
STRUCT = Scalar("Struct")
STRINGS = MapOf(STR)

_ANALYTICS = Msg("FcmOptions", {"analytics_label": STR})
_COLOR = Msg("Color", {"red": FLOAT, "green": FLOAT, "blue": FLOAT, "alpha": FLOAT})
_ANDROID_NOTIFICATION = Msg(
    "AndroidNotification",
    {
        **{k: STR for k in ("title", "body", "icon", "color", "sound", "tag", "click_action",
                            "body_loc_key", "title_loc_key", "channel_id", "ticker", "image")},
        "body_loc_args": Repeated(STR),
        "title_loc_args": Repeated(STR),
        **{k: BOOL for k in ("sticky", "local_only", "default_sound", "default_vibrate_timings",
                             "default_light_settings", "bypass_proxy_notification")},
        "event_time": TIMESTAMP,
        "notification_priority": Enum(
            "NotificationPriority",
            ("PRIORITY_UNSPECIFIED", "PRIORITY_MIN", "PRIORITY_LOW", "PRIORITY_DEFAULT",
             "PRIORITY_HIGH", "PRIORITY_MAX"),
        ),
        "vibrate_timings": Repeated(DURATION),
        "visibility": Enum("Visibility", ("VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET")),
        "notification_count": INT,
        "light_settings": Msg(
            "LightSettings",
            {"color": _COLOR, "light_on_duration": DURATION, "light_off_duration": DURATION},
        ),
        "proxy": Enum("Proxy", ("PROXY_UNSPECIFIED", "ALLOW", "DENY", "IF_PRIORITY_LOWERED")),
    },
)
MESSAGE = Msg(
    "Message",
    {
        "name": STR,
        "data": STRINGS,
        "notification": Msg("Notification", {"title": STR, "body": STR, "image": STR}),
        "android": Msg(
            "AndroidConfig",
            {
                "collapse_key": STR,
                "priority": Enum("AndroidMessagePriority", ("NORMAL", "HIGH"), any_case=True),
                "ttl": DURATION,
                "restricted_package_name": STR,
                "data": STRINGS,
                "notification": _ANDROID_NOTIFICATION,
                "fcm_options": Msg("AndroidFcmOptions", {"analytics_label": STR}),
                "direct_boot_ok": BOOL,
                "bandwidth_constrained_ok": BOOL,
                "restricted_satellite_ok": BOOL,
            },
        ),
        "webpush": Msg(
            "WebpushConfig",
            {
                "headers": STRINGS,
                "data": STRINGS,
                "notification": STRUCT,
                "fcm_options": Msg("WebpushFcmOptions", {"link": STR, "analytics_label": STR}),
            },
        ),
        "apns": Msg(
            "ApnsConfig",
            {
                "headers": STRINGS,
                "payload": STRUCT,
                "fcm_options": Msg("ApnsFcmOptions", {"analytics_label": STR, "image": STR}),
                "live_activity_token": STR,
            },
        ),
        "fcm_options": _ANALYTICS,
        **{target: STR for target in TARGET_FIELDS},
    },
)


@dataclass(slots=True)
class Invalid(Exception):
    """The request fails validation: 400 INVALID_ARGUMENT."""

    message: str
    violations: list[tuple[str, str]] = field(default_factory=list)
    fcm_error: bool = False  # add an FcmError INVALID_ARGUMENT detail

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class SendRequest:
    """A request that parsed: its message (canonical field names), the target and the flag."""

    message: dict[str, Any]
    raw: dict[str, Any]  # the message as sent (its size is what the limit counts)
    target: str  # token | topic | condition | fid
    value: str
    validate_only: bool


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:100]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_scalar(spec: Scalar, value: Any) -> str | None:
    """Why ``value`` is not a valid ``spec``, or None."""
    kind = spec.kind
    if kind == "TYPE_STRING":
        ok = isinstance(value, str)
    elif kind == "TYPE_BOOL":
        ok = isinstance(value, bool)
    elif kind == "TYPE_INT32":
        ok = (_is_number(value) and float(value).is_integer() and -(2**31) <= value < 2**31) or (
            isinstance(value, str) and re.fullmatch(r"-?\d{1,10}", value) is not None
        )
    elif kind == "TYPE_FLOAT":
        ok = _is_number(value)
    elif kind == "Struct":
        ok = isinstance(value, dict)
    elif kind == "Duration":
        ok = isinstance(value, str) and DURATION_RE.match(value) is not None
        if not ok:
            return f"(type.googleapis.com/google.protobuf.Duration), {_show(value)}"
        return None
    else:  # Timestamp, RFC 3339
        try:
            ok = isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None
        except ValueError:
            ok = False
        if not ok:
            return f"(type.googleapis.com/google.protobuf.Timestamp), {_show(value)}"
        return None
    return None if ok else f"({kind}), {_show(value)}"


def _walk(spec: Spec, value: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    """Check ``value`` against ``spec``; returns the value with canonical field names."""
    if isinstance(spec, Msg):
        if not isinstance(value, dict):
            problems.append((path, f"Invalid value at '{path}' ({_PKG}{spec.name}), {_show(value)}"))
            return None
        aliases = spec.aliases
        result: dict[str, Any] = {}
        for name, item in value.items():
            canonical = aliases.get(name)
            if canonical is None:
                problems.append((path, f"Invalid JSON payload received. Unknown name \"{name}\" "
                                       f"at '{path}': Cannot find field."))
                continue
            if item is None:  # JSON null is the default value
                continue
            result[canonical] = _walk(spec.fields[canonical], item, f"{path}.{canonical}", problems)
        return result
    if isinstance(spec, MapOf):
        if not isinstance(value, dict):
            problems.append((path, f"Invalid value at '{path}' (map), {_show(value)}"))
            return None
        for index, item in enumerate(value.values()):
            where = f"{path}[{index}].value"
            reason = _check_scalar(STR, item) if spec.value == STR else None
            if reason is not None:
                problems.append((where, f"Invalid value at '{where}' {reason}"))
        return dict(value)
    if isinstance(spec, Repeated):
        if not isinstance(value, list):
            problems.append((path, f"Invalid value at '{path}', expected a list: {_show(value)}"))
            return None
        return [_walk(spec.item, item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(spec, Enum):
        if not spec.accepts(value):
            problems.append((path, f"Invalid value at '{path}' ({_PKG}{spec.name}), {_show(value)}"))
        return value
    reason = _check_scalar(spec, value)
    if reason is not None:
        problems.append((path, f"Invalid value at '{path}' {reason}"))
    return value


def _seconds(duration: str) -> float:
    return float(duration[:-1])


def _semantic(message: dict[str, Any]) -> list[tuple[str, str]]:
    """FCM's own rules, checked once the proto parsed (docs/protocols/fcm.md §8)."""
    problems: list[tuple[str, str]] = []
    android = message.get("android") or {}
    for where, data in (("message.data", message.get("data")), ("message.android.data", android.get("data"))):
        for key in data or {}:
            if key in RESERVED_DATA_KEYS or key.lower().startswith(RESERVED_DATA_PREFIXES):
                problems.append((where, f"Invalid data payload key: {key!r} is a reserved word"))
    ttl = android.get("ttl")
    if isinstance(ttl, str):
        if _seconds(ttl) < 0:
            problems.append(("message.android.ttl", "TTL must not be negative"))
        elif _seconds(ttl) > MAX_TTL:
            problems.append(("message.android.ttl", f"TTL exceeds the maximum of {MAX_TTL}s"))
    color = (android.get("notification") or {}).get("color")
    if isinstance(color, str) and not COLOR_RE.match(color):
        problems.append(("message.android.notification.color", "Color must be in the form #RRGGBB"))
    webpush = message.get("webpush") or {}
    link = (webpush.get("fcm_options") or {}).get("link")
    if isinstance(link, str) and not link.startswith("https://"):
        problems.append(("message.webpush.fcm_options.link", "Link must use HTTPS"))
    for where, holder in (
        ("message.fcm_options", message.get("fcm_options")),
        ("message.android.fcm_options", android.get("fcm_options")),
        ("message.apns.fcm_options", (message.get("apns") or {}).get("fcm_options")),
        ("message.webpush.fcm_options", webpush.get("fcm_options")),
    ):
        label = (holder or {}).get("analytics_label")
        if isinstance(label, str) and not ANALYTICS_LABEL_RE.match(label):
            problems.append((f"{where}.analytics_label",
                             "Analytics label must match ^[a-zA-Z0-9-_.~%]{1,50}$"))
    payload = (message.get("apns") or {}).get("payload")
    if isinstance(payload, dict) and "aps" in payload and not isinstance(payload["aps"], dict):
        problems.append(("message.apns.payload.aps", "aps must be a JSON object"))
    topic = message.get("topic")
    if isinstance(topic, str) and topic and not TOPIC_RE.fullmatch(topic.removeprefix("/topics/")):
        problems.append(("message.topic", "Invalid topic name; it must match [a-zA-Z0-9-_.~%]+"))
    condition = message.get("condition")
    if isinstance(condition, str) and condition:
        try:
            condition_topics(condition)
        except ValueError as exc:
            problems.append(("message.condition", f"Invalid condition expression provided: {exc}"))
    return problems


def parse_send_request(data: bytes) -> SendRequest:
    """Parse and validate a ``messages:send`` body.

    :raises Invalid: with Google's wording and the field violations.
    """
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        text = f"Invalid JSON payload received. {type(exc).__name__}: {str(exc)[:80]}"
        raise Invalid(text, [("", text)]) from exc
    if not isinstance(body, dict):
        text = f"Invalid JSON payload received. Expected an object, got {_show(body)}"
        raise Invalid(text, [("", text)])
    problems: list[tuple[str, str]] = []
    validate_only = False
    message: dict[str, Any] = {}
    raw: Any = {}
    for name, value in body.items():
        if name == "message":
            message = _walk(MESSAGE, value, "message", problems) or {}
            raw = value
        elif name in ("validate_only", "validateOnly"):
            if not isinstance(value, bool):
                problems.append((name, f"Invalid value at 'validate_only' (TYPE_BOOL), {_show(value)}"))
            validate_only = value is True
        else:
            problems.append(
                ("", f"Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.")
            )
    targets = [t for t in TARGET_FIELDS if message.get(t)]
    if len(targets) > 1:
        problems.append(("message", f"Invalid value at 'message' (oneof), oneof field 'target' is "
                                    f"already set. Cannot set '{targets[1]}'"))
    if problems:
        raise Invalid(problems[0][1], problems)
    semantic = _semantic(message)
    if not targets:
        semantic.insert(0, ("message", "Recipient of the message is not set."))
    if semantic:
        raise Invalid(semantic[0][1], semantic, fcm_error=True)
    target = targets[0]
    value = message[target]
    if target == "topic":
        value = value.removeprefix("/topics/")
    return SendRequest(message, raw, target, value, validate_only)


def message_size(message: dict[str, Any]) -> int:
    """What the size limit counts: the compact message as sent, without its target
    (docs/protocols/fcm.md §4.2)."""
    rest = {k: v for k, v in message.items() if k not in TARGET_FIELDS}  # one-word names: no camelCase
    return len(json.dumps(rest, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
