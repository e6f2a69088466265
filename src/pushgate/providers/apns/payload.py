"""Notification → APNs request parts: the JSON body and the ``apns-*`` headers.

The wire facts are in docs/protocols/apns.md §3 and §4. The body is a JSON object
whose Apple-defined keys live in ``aps``; the app's own keys (``data``, the
deep link ``url``, the ``image`` URL) sit beside ``aps``, never inside it.

The raw override block
----------------------
``Notification.apns`` has the same shape as FCM's ``message.apns`` block, so
one habit serves both::

    Notification(title="Hi", apns={
        "payload": {"aps": {"target-content-id": "inbox", "alert": {"launch-image": "l.png"}}},
        "headers": {"apns-priority": "5", "apns-topic": "com.example.other"},
    })

- ``payload`` is deep-merged into the built body last: dicts merge key by
  key, any other value replaces, and ``None`` deletes the key.
- ``headers`` replaces the computed ``apns-push-type``, ``apns-priority``,
  ``apns-expiration``, ``apns-collapse-id`` or ``apns-topic`` (a full topic:
  no push-type suffix is added to it). ``apns-id`` is per message and
  ``authorization`` belongs to the client, so neither can be set here.

Any other key in the block is an :class:`InvalidNotification`: a typo must
not be dropped silently.

Header rules
------------
- ``apns-push-type``: ``push_type``, else ``background`` when ``silent``,
  else ``alert``.
- ``apns-priority``: ``background`` is always 5 (Apple documents 10 as an
  error, docs/protocols/apns.md §3.3). Otherwise HIGH → 10, NORMAL → 5, LOW → 1, and unset → 10
  when the notification shows something (alert, sound or badge) and 5 when
  it does not (priority 10 must produce a visible effect, docs/protocols/apns.md §3.1).
- ``apns-expiration``: ``expires_at()`` in epoch seconds; a ``ttl`` of 0
  becomes ``0`` ("try once, do not store").
- ``apns-collapse-id``: ``collapse_key``, at most 64 UTF-8 bytes.
- ``apns-topic``: the bundle id plus the suffix of docs/protocols/apns.md §3.3 for the push type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple

from pushgate.errors import InvalidNotification
from pushgate.notification import CriticalSound, Notification, Priority
from pushgate.providers._payload_fit import fit
from pushgate.providers._payload_json import deep_merge, dumps

# docs/protocols/apns.md §4: body limits in bytes.
PAYLOAD_LIMIT: Final = 4096
VOIP_PAYLOAD_LIMIT: Final = 5120
# docs/protocols/apns.md §3.1: apns-collapse-id limit in bytes.
COLLAPSE_ID_LIMIT: Final = 64

# docs/protocols/apns.md §3.3: the apns-topic suffix each push type needs.
TOPIC_SUFFIXES: Final[Mapping[str, str]] = {
    "alert": "",
    "background": "",
    "location": ".location-query",
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "mdm": "",
    "liveactivity": ".push-type.liveactivity",
    "pushtotalk": ".voip-ptt",
    "widgets": ".push-type.widgets",
    "controls": ".push-type.controls",
}
PUSH_TYPES: Final = frozenset(TOPIC_SUFFIXES)
PRIORITIES: Final = frozenset({"1", "5", "10"})

_PRIORITY_MAP: Final = {Priority.HIGH: "10", Priority.NORMAL: "5", Priority.LOW: "1"}
_OVERRIDE_KEYS: Final = frozenset({"payload", "headers"})
_HEADER_OVERRIDES: Final = frozenset(
    {"apns-push-type", "apns-priority", "apns-expiration", "apns-collapse-id", "apns-topic"}
)
# Custom keys the builder itself writes beside "aps".
URL_KEY: Final = "url"
IMAGE_KEY: Final = "image"


class APNsRequestParts(NamedTuple):
    """Everything about one notification that does not depend on the token.

    A NamedTuple rather than a frozen dataclass: an event send makes one per
    device (its own text, :mod:`pushgate.providers.apns.text_template`), and
    a frozen dataclass took about 1.2 us to build, a tuple a fifth of that.
    """

    body: bytes
    push_type: str
    topic: str
    priority: str
    expiration: str | None
    collapse_id: str | None

    def headers(self) -> list[tuple[str, str]]:
        """The ``apns-*`` headers in a stable order (absent ones left out)."""
        out = [
            ("apns-topic", self.topic),
            ("apns-push-type", self.push_type),
            ("apns-priority", self.priority),
        ]
        if self.expiration is not None:
            out.append(("apns-expiration", self.expiration))
        if self.collapse_id is not None:
            out.append(("apns-collapse-id", self.collapse_id))
        return out


def topic_for(bundle_id: str, push_type: str) -> str:
    """``apns-topic`` for a push type: the bundle id plus its docs/protocols/apns.md §3.3 suffix.

    A bundle id that already ends in the suffix is kept as it is, so callers
    may configure either the bare bundle id or the full topic.
    """
    suffix = TOPIC_SUFFIXES[push_type]
    if not suffix or bundle_id.endswith(suffix):
        return bundle_id
    return bundle_id + suffix


def payload_limit(push_type: str) -> int:
    """The body limit for a push type (docs/protocols/apns.md §4)."""
    return VOIP_PAYLOAD_LIMIT if push_type == "voip" else PAYLOAD_LIMIT


def _override_block(notification: Notification) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    block = notification.apns or {}
    unknown = set(block) - _OVERRIDE_KEYS
    if unknown:
        raise InvalidNotification(
            f"unknown keys {sorted(unknown)}; use {{'payload': {{...}}, 'headers': {{...}}}}",
            field="apns",
        )
    payload = block.get("payload") or {}
    headers = block.get("headers") or {}
    if not isinstance(payload, Mapping):
        raise InvalidNotification("'payload' must be a JSON object", field="apns")
    if not isinstance(headers, Mapping):
        raise InvalidNotification("'headers' must be an object of header values", field="apns")
    bad = {str(k).lower() for k in headers} - _HEADER_OVERRIDES
    if bad:
        raise InvalidNotification(
            f"headers {sorted(bad)} cannot be overridden; allowed: {sorted(_HEADER_OVERRIDES)}",
            field="apns",
        )
    return payload, {str(k).lower(): v for k, v in headers.items()}


def _alert(notification: Notification) -> dict[str, Any]:
    alert: dict[str, Any] = {}
    if notification.title is not None:
        alert["title"] = notification.title
    if notification.subtitle is not None:
        alert["subtitle"] = notification.subtitle
    if notification.title_loc_key is not None:
        alert["title-loc-key"] = notification.title_loc_key
    if notification.title_loc_args:
        alert["title-loc-args"] = list(notification.title_loc_args)
    if notification.body_loc_key is not None:
        alert["loc-key"] = notification.body_loc_key
    if notification.body_loc_args:
        alert["loc-args"] = list(notification.body_loc_args)
    if notification.action_loc_key is not None:
        alert["action-loc-key"] = notification.action_loc_key
    if notification.launch_image is not None:
        alert["launch-image"] = notification.launch_image
    return alert


def _sound(sound: str | CriticalSound) -> str | dict[str, Any]:
    if isinstance(sound, CriticalSound):
        return {"critical": 1, "name": sound.name, "volume": sound.volume}
    return sound


def _aps(notification: Notification) -> dict[str, Any]:
    """The ``aps`` dictionary without the alert body (added per trim step)."""
    aps: dict[str, Any] = {}
    if notification.silent:
        if notification.has_alert or notification.sound is not None:
            raise InvalidNotification(
                "a silent (background) notification cannot show an alert or play a sound",
                field="silent",
            )
        aps["content-available"] = 1
    if notification.badge is not None:
        aps["badge"] = notification.badge
    if notification.sound is not None:
        aps["sound"] = _sound(notification.sound)
    if notification.thread_id is not None:
        aps["thread-id"] = notification.thread_id
    if notification.category is not None:
        aps["category"] = notification.category
    if notification.mutable_content or notification.image is not None:
        # An image is attached by a Notification Service Extension, which
        # runs only for mutable-content notifications.
        aps["mutable-content"] = 1
    if notification.interruption_level is not None:
        aps["interruption-level"] = notification.interruption_level.value
    if notification.relevance_score is not None:
        aps["relevance-score"] = notification.relevance_score
    return aps


def _custom(notification: Notification) -> dict[str, Any]:
    custom: dict[str, Any] = dict(notification.data or {})
    if "aps" in custom:
        raise InvalidNotification("'aps' is reserved for Apple's keys", field="data")
    # data wins over the model's url/image: the app named that key itself.
    if notification.url is not None:
        custom.setdefault(URL_KEY, notification.url)
    if notification.image is not None:
        custom.setdefault(IMAGE_KEY, notification.image)
    return custom


def _validate_headers(headers: dict[str, str]) -> None:
    if headers["apns-push-type"] not in PUSH_TYPES:
        raise InvalidNotification(f"unknown push type {headers['apns-push-type']!r}", field="push_type")
    if headers["apns-priority"] not in PRIORITIES:
        raise InvalidNotification("apns-priority must be 1, 5 or 10", field="priority")
    expiration = headers.get("apns-expiration")
    if expiration is not None and not (expiration.isascii() and expiration.isdigit()):
        raise InvalidNotification("apns-expiration must be epoch seconds", field="expiration")
    collapse = headers.get("apns-collapse-id")
    if collapse is not None and len(collapse.encode("utf-8")) > COLLAPSE_ID_LIMIT:
        raise InvalidNotification(
            f"apns-collapse-id is at most {COLLAPSE_ID_LIMIT} bytes", field="collapse_key"
        )
    if not headers["apns-topic"]:
        raise InvalidNotification("apns-topic is empty", field="apns")


def build_payload(
    notification: Notification,
    *,
    bundle_id: str,
    now: datetime | None = None,
    max_size: int | None = None,
) -> APNsRequestParts:
    """Build the body and headers of ``notification`` for the app ``bundle_id``.

    :param now: the time ``ttl`` counts from (the client passes its clock).
    :param max_size: opt in to trimming the alert body so the payload fits.
    :raises InvalidNotification: the notification cannot be expressed for APNs.
    :raises PayloadTooLarge: the body is over the limit (and cannot be trimmed).
    """
    notification.require_content()  # else APNs would get {"aps":{}}
    payload_override, header_override = _override_block(notification)
    visible = notification.has_alert or notification.sound is not None or notification.badge is not None
    push_type: str = notification.push_type or ("background" if notification.silent else "alert")
    if push_type == "background":
        priority = "5"
    elif notification.priority is not None:
        priority = _PRIORITY_MAP[notification.priority]
    else:
        priority = "10" if visible else "5"

    headers: dict[str, str] = {"apns-push-type": push_type, "apns-priority": priority}
    ttl = notification.ttl_seconds(now) if notification.expiration is None else None
    if ttl == 0:
        headers["apns-expiration"] = "0"
    else:
        expires = notification.expires_at(now)
        if expires is not None:
            headers["apns-expiration"] = str(max(expires, 0))
    if notification.collapse_key is not None:
        headers["apns-collapse-id"] = notification.collapse_key
    elif notification.dedupe_id is not None:  # docs/protocols/apns.md §3.1: replaces on the device
        headers["apns-collapse-id"] = notification.dedupe_id
    for name, value in header_override.items():
        headers[name] = str(value)
    push_type = headers["apns-push-type"]
    if push_type not in PUSH_TYPES:
        raise InvalidNotification(f"unknown push type {push_type!r}", field="push_type")
    headers.setdefault("apns-topic", topic_for(bundle_id, push_type))
    _validate_headers(headers)

    aps = _aps(notification)
    alert = _alert(notification)
    custom = _custom(notification)

    def build_body(text: str | None) -> bytes:
        body_aps = dict(aps)
        if alert or text is not None:
            full = dict(alert)
            if text is not None:
                full["body"] = text
            body_aps["alert"] = full
        payload: dict[str, Any] = {"aps": body_aps, **custom}
        if payload_override:
            payload = deep_merge(payload, payload_override)
        return dumps(payload)

    body = fit(
        build_body,
        notification.body,
        provider="apns",
        limit=payload_limit(push_type),
        max_size=max_size,
    )
    return APNsRequestParts(
        body=body,
        push_type=push_type,
        topic=headers["apns-topic"],
        priority=headers["apns-priority"],
        expiration=headers.get("apns-expiration"),
        collapse_id=headers.get("apns-collapse-id"),
    )
