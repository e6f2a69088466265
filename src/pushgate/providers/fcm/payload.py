"""Notification → FCM HTTP v1 ``message`` (docs/protocols/fcm.md §4.1 and §4.2).

The common ``notification`` block (title, body, image) applies to every
platform; the ``android``, ``apns`` and ``webpush`` blocks carry only what is
platform-specific, because FCM documents each platform field as an
*override* of the common one (``AndroidNotification.title``: "If present, it
will override google.firebase.fcm.v1.Notification.title"). Repeating the
text in every block would quadruple the body's share of the 4096-byte
limit. The one exception is an APNs ``alert`` dictionary (needed for a
subtitle or localisation keys): APNs takes the whole ``alert`` from the
``apns`` block then, so title and body go in it too.

Since only the target differs between the requests of one send, the message
is serialised once without its target and the target is spliced in per
request at the byte level (:meth:`FCMPayload.body_for`); FCM tokens are
``[A-Za-z0-9_:-]`` only, so a checked token needs no JSON escaping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pushgate.errors import InvalidNotification
from pushgate.notification import CriticalSound, Notification, Priority
from pushgate.providers._payload_fit import fit
from pushgate.providers._payload_json import deep_merge, dumps

# docs/protocols/fcm.md §4.2: 4096 bytes for a message, 2048 for topic messages.
MESSAGE_LIMIT = 4096
TOPIC_LIMIT = 2048
# docs/protocols/fcm.md §4.1: android.ttl is at most (and by default) four weeks.
MAX_TTL = 2_419_200
# docs/protocols/fcm.md §4.1: data keys FCM reserves for itself.
RESERVED_DATA_KEYS = frozenset({"from", "message_type"})
RESERVED_DATA_PREFIXES = ("google", "gcm")
# docs/protocols/fcm.md §4.2: a condition names at most five topics.
MAX_CONDITION_TOPICS = 5
TARGET_FIELDS = ("token", "topic", "condition", "fid")

TOKEN_RE = re.compile(r"[A-Za-z0-9_:\-]+")
TOPIC_RE = re.compile(r"[a-zA-Z0-9\-_.~%]+")
# RFC 8030 §5.4: a Web Push Topic is at most 32 base64url characters.
_WEBPUSH_TOPIC_RE = re.compile(r"[A-Za-z0-9_\-]{1,32}")
_APNS_COLLAPSE_ID_LIMIT = 64  # docs/protocols/apns.md §3.1

Target = Literal["token", "topic", "condition"]

_ANDROID_PRIORITY = {Priority.HIGH: "HIGH", Priority.NORMAL: "NORMAL", Priority.LOW: "NORMAL"}
_APNS_PRIORITY = {Priority.HIGH: "10", Priority.NORMAL: "5", Priority.LOW: "1"}


def check_data_key(key: str, *, field: str = "data") -> None:
    """Reject keys FCM reserves (docs/protocols/fcm.md §4.1)."""
    if key in RESERVED_DATA_KEYS or key.lower().startswith(RESERVED_DATA_PREFIXES):
        raise InvalidNotification(f"data key {key!r} is reserved by FCM", field=f"{field}.{key}")


def data_to_strings(data: Mapping[str, Any], *, field: str = "data") -> dict[str, str]:
    """FCM data is a map of strings (docs/protocols/fcm.md §4.1): non-strings are sent as their JSON text."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise InvalidNotification("data keys must be strings", field=field)
        check_data_key(key, field=field)
        out[key] = value if isinstance(value, str) else dumps(value).decode("utf-8")
    return out


def normalize_topic(topic: str) -> str:
    """The bare topic name; a leading ``/topics/`` is dropped as the SDKs do."""
    name = topic.removeprefix("/topics/")
    if not TOPIC_RE.fullmatch(name):
        raise InvalidNotification(f"topic name {topic!r} must match [a-zA-Z0-9-_.~%]+", field="topic")
    return name


_CONDITION_TOKEN = re.compile(
    r"""\s*(?:(\()|(\))|(&&)|(\|\|)|(!)|(?:'([^']*)'|"([^"]*)")\s+in\s+topics\b)"""
)


def condition_topics(condition: str) -> list[str]:
    """The topics of a condition after checking its syntax (docs/protocols/fcm.md §4.2).

    Grammar: ``expr := term (('&&' | '||') term)*``, ``term := '!' term |
    '(' expr ')' | "'" topic "' in topics"``; a topic may be in double quotes too.

    :raises ValueError: with a description of what is wrong.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = condition.rstrip()
    while pos < len(text):
        match = _CONDITION_TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"invalid condition syntax at offset {pos}")
        kinds = ("(", ")", "&&", "||", "!")
        kind = next((k for k, g in zip(kinds, match.groups()[:5], strict=True) if g), "topic")
        tokens.append((kind, match.group(6) or match.group(7) or ""))
        pos = match.end()
    topics: list[str] = []
    index = 0

    def term() -> None:
        nonlocal index
        if index >= len(tokens):
            raise ValueError("condition ends early")
        kind, value = tokens[index]
        index += 1
        if kind == "!":
            term()
        elif kind == "(":
            expr()
            if index >= len(tokens) or tokens[index][0] != ")":
                raise ValueError("unbalanced parentheses in condition")
            index += 1
        elif kind == "topic":
            if not TOPIC_RE.fullmatch(value):
                raise ValueError(f"invalid topic name {value!r} in condition")
            topics.append(value)
        else:
            raise ValueError(f"unexpected {kind!r} in condition")

    def expr() -> None:
        nonlocal index
        term()
        while index < len(tokens) and tokens[index][0] in ("&&", "||"):
            index += 1
            term()

    expr()
    if index != len(tokens):
        raise ValueError("unexpected text after the condition")
    if len(topics) > MAX_CONDITION_TOPICS:
        raise ValueError(f"a condition may name at most {MAX_CONDITION_TOPICS} topics")
    return topics


def _sound_name(sound: str | CriticalSound) -> str:
    return sound.name if isinstance(sound, CriticalSound) else sound


def _android(n: Notification, ttl: int | None) -> dict[str, Any]:
    android: dict[str, Any] = {}
    if n.priority is not None:
        android["priority"] = _ANDROID_PRIORITY[n.priority]
    if ttl is not None:
        android["ttl"] = f"{min(ttl, MAX_TTL)}s"
    if n.collapse_key is not None:
        android["collapse_key"] = n.collapse_key
    if n.restricted_package_name is not None:
        android["restricted_package_name"] = n.restricted_package_name
    if n.silent:
        return android
    note: dict[str, Any] = {}
    for key, value in (
        ("icon", n.icon),
        ("sound", _sound_name(n.sound) if n.sound is not None else None),
        # android.notification.tag replaces a shown notification with the same tag
        # (docs/protocols/fcm.md §4); a dedupe id goes here, never into collapse_key: FCM keeps
        # at most four collapse keys per device (firebase.google.com/docs/cloud-messaging/
        # customize-messages/collapsible-message-types), so one per send would drop sends.
        ("tag", n.collapse_key if n.collapse_key is not None else n.dedupe_id),
        ("click_action", n.url),
        ("title_loc_key", n.title_loc_key),
        ("title_loc_args", n.title_loc_args),
        ("body_loc_key", n.body_loc_key),
        ("body_loc_args", n.body_loc_args),
        ("notification_count", n.badge),
    ):
        if value is not None:
            note[key] = value
    if note:
        android["notification"] = note
    return android


def _apns(n: Notification, body: str | None, ttl: int | None, now: datetime) -> dict[str, Any]:
    headers: dict[str, str] = {}
    aps: dict[str, Any] = {}
    if n.silent:
        headers["apns-priority"] = "5"  # docs/protocols/apns.md §3.3: background pushes must use 5
        headers["apns-push-type"] = "background"
        aps["content-available"] = 1
    else:
        if n.priority is not None:
            headers["apns-priority"] = _APNS_PRIORITY[n.priority]
        headers["apns-push-type"] = n.push_type or "alert"
        alert: dict[str, Any] = {}
        if n.subtitle is not None or n.title_loc_key is not None or n.body_loc_key is not None:
            for key, value in (
                ("title", n.title),
                ("subtitle", n.subtitle),
                ("body", body),
                ("title-loc-key", n.title_loc_key),
                ("title-loc-args", n.title_loc_args),
                ("loc-key", n.body_loc_key),
                ("loc-args", n.body_loc_args),
            ):
                if value is not None:
                    alert[key] = value
        if alert:
            aps["alert"] = alert
        if n.badge is not None:
            aps["badge"] = n.badge
        if isinstance(n.sound, CriticalSound):
            aps["sound"] = {"critical": 1, "name": n.sound.name, "volume": n.sound.volume}
        elif n.sound is not None:
            aps["sound"] = n.sound
        extra: tuple[tuple[str, object], ...] = (
            ("category", n.category),
            ("thread-id", n.thread_id),
            ("interruption-level", n.interruption_level),
            ("relevance-score", n.relevance_score),
        )
        for name, setting in extra:
            if setting is not None:
                aps[name] = setting
        if n.mutable_content:
            aps["mutable-content"] = 1
    if ttl is not None:
        # docs/protocols/apns.md §3.1: 0 means "try once, don't store"; otherwise an absolute epoch time.
        headers["apns-expiration"] = "0" if ttl == 0 else str(int(now.timestamp()) + ttl)
    if n.collapse_key is not None:
        if len(n.collapse_key.encode("utf-8")) > _APNS_COLLAPSE_ID_LIMIT:
            raise InvalidNotification(
                "longer than the 64 bytes APNs allows for apns-collapse-id", field="collapse_key"
            )
        headers["apns-collapse-id"] = n.collapse_key
    elif n.dedupe_id is not None:
        headers["apns-collapse-id"] = n.dedupe_id
    apns: dict[str, Any] = {"headers": headers}
    if aps:
        apns["payload"] = {"aps": aps}
    return apns


def _webpush(n: Notification, ttl: int | None) -> dict[str, Any]:
    headers: dict[str, str] = {}
    if ttl is not None:
        headers["TTL"] = str(ttl)
    if n.priority is not None:
        headers["Urgency"] = n.priority.value  # RFC 8030 §5.3: high / normal / low
    if n.collapse_key is not None and _WEBPUSH_TOPIC_RE.fullmatch(n.collapse_key):
        headers["Topic"] = n.collapse_key
    webpush: dict[str, Any] = {}
    if headers:
        webpush["headers"] = headers
    if n.silent:
        return webpush
    note: dict[str, Any] = {}
    if n.icon is not None:
        note["icon"] = n.icon
    if n.actions:
        note["actions"] = [
            {"action": a.id, "title": a.title, **({"icon": a.icon} if a.icon else {})} for a in n.actions
        ]
    if note:
        webpush["notification"] = note
    if n.url is not None and n.url.startswith("https://"):
        webpush["fcm_options"] = {"link": n.url}  # docs/protocols/fcm.md §4.1: the link must be HTTPS
    return webpush


def build_message(notification: Notification, *, now: datetime | None = None) -> dict[str, Any]:
    """The v1 ``message`` object without its target.

    :param now: the time TTLs are counted from (an injected clock).
    """
    return _build(notification, notification.body, now or datetime.now(UTC))


def _build(n: Notification, text: str | None, now: datetime) -> dict[str, Any]:
    ttl = n.ttl_seconds(now)
    message: dict[str, Any] = {}
    if not n.silent:
        common = {k: v for k, v in (("title", n.title), ("body", text), ("image", n.image)) if v is not None}
        if common:
            message["notification"] = common
    if n.data:
        message["data"] = data_to_strings(n.data)
    for key, block in (("android", _android(n, ttl)), ("apns", _apns(n, text, ttl, now)),
                       ("webpush", _webpush(n, ttl))):
        if any(block.values()):
            message[key] = block
    if n.fcm:
        for field in TARGET_FIELDS:
            if field in n.fcm:
                raise InvalidNotification(
                    "the target is set per request, not in the override", field=f"fcm.{field}"
                )
        message = deep_merge(message, n.fcm)
        for path in (("data",), ("android", "data"), ("webpush", "data")):
            holder: Any = message
            for part in path[:-1]:
                holder = holder.get(part) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and isinstance(holder.get(path[-1]), Mapping):
                holder[path[-1]] = data_to_strings(holder[path[-1]], field=".".join(path))
    return message


@dataclass(frozen=True, slots=True)
class FCMPayload:
    """A serialised request body with a hole for its target.

    ``head + json-string(target) + tail`` is the whole body. ``size`` is what
    FCM's limit counts: the compact message without its target.
    """

    target: Target
    head: bytes
    tail: bytes
    size: int

    def body_for(self, value: str) -> bytes:
        """The request body for one target; a token must already match :data:`TOKEN_RE`."""
        if self.target == "token":
            return b"".join((self.head, b'"', value.encode("ascii"), b'"', self.tail))
        return b"".join((self.head, dumps(value), self.tail))


def build_payload(
    notification: Notification,
    *,
    target: Target = "token",
    limit: int = MESSAGE_LIMIT,
    max_size: int | None = None,
    validate_only: bool = False,
    now: datetime | None = None,
) -> FCMPayload:
    """Build the request body once for every request of a send.

    :param limit: the provider's limit (4096; the topic limit for topics and
        conditions).
    :param max_size: opt in to trimming the body text to fit (see :func:`fit`).
    :raises PayloadTooLarge: it does not fit and trimming is off or not enough.
    :raises InvalidNotification: a reserved data key, a bad override, an empty notification...
    """
    notification.require_content()
    now = now or datetime.now(UTC)
    encoded = fit(
        lambda text: dumps(_build(notification, text, now)),
        notification.body,
        provider="fcm",
        limit=limit,
        max_size=max_size,
    )
    inner = encoded[1:-1]
    head = b'{"message":{"' + target.encode("ascii") + b'":'
    tail = b"".join(
        (b"," + inner if inner else b"", b"}", b',"validate_only":true' if validate_only else b"", b"}")
    )
    return FCMPayload(target, head, tail, len(encoded))
