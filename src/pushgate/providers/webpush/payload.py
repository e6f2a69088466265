"""Notification → the Web Push message: the JSON the service worker receives,
and the RFC 8030 request headers (docs/protocols/webpush.md §1.1 and §3 to §5).

The plaintext is a JSON object shaped for ``registration.showNotification``
(its keys are the Notification API options, so a service worker can pass it
straight through)::

    {
      "title": "…",                   # showNotification's first argument
      "body": "…", "subtitle": "…",
      "icon": url, "image": url,
      "badge": url,                   # Notification.badge: the small status-bar image
      "app_badge": 3,                 # for navigator.setAppBadge() (Declarative Web Push's name)
      "url": url,                     # open on click (notificationclick)
      "tag": "…",                     # from collapse_key: replaces a shown notification
      "actions": [{"action": id, "title": "…", "icon": url, "url": url}],
      "title_loc_key": …, "title_loc_args": [...], "body_loc_key": …, "body_loc_args": [...],
      "silent": true,                 # a background/data message
      "require_interaction": true,    # Notification.requireInteraction
      "renotify": true,               # Notification.renotify
      "starred": true,                # Pushpad's bookmark flag
      "custom_data": "…",             # a string for the action handlers (Pushpad's custom_data)
      "custom_metrics": ["…"],        # up to 3 statistics labels
      "data": {...}                   # the notification's custom data
    }

The keys from ``badge`` to ``custom_metrics`` are the names the browser SDK's
service worker reads: keep them (docs/pushpad.md).

With ``webpush: {"declarative": true}`` the same content is sent in the
Declarative Web Push form (``{"web_push": 8030, "notification": {...}}``,
:mod:`pushgate.providers.webpush.declarative`) instead.

Absent values are omitted. The ``webpush`` override dict is deep-merged last
(a ``None`` value deletes a key); its ``headers`` (``TTL``, ``Urgency``,
``Topic``), ``topic``, ``urgency`` and ``ttl`` entries set request headers
instead of going into the JSON.

Headers: ``TTL`` is required by RFC 8030 §5.2 and defaults to four weeks;
``Urgency`` comes from the priority (§5.3); ``Topic`` (§5.4) from the
collapse key, which Web Push restricts to 32 base64url characters: a key that
does not fit, or whose length is 1 mod 4 (Apple base64-decodes Topic and
answers ``BadWebPushTopic``, docs/protocols/webpush.md §1.3), is replaced by a 32-hex-digit hash.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pushgate.errors import InvalidNotification
from pushgate.notification import Notification, Priority
from pushgate.providers._payload_fit import fit
from pushgate.providers._payload_json import deep_merge
from pushgate.providers.webpush.declarative import OPTION as DECLARATIVE
from pushgate.providers.webpush.declarative import to_declarative

__all__ = [
    "DEFAULT_TTL",
    "MAX_PLAINTEXT",
    "URGENCIES",
    "WebPushMessage",
    "build_json",
    "build_payload",
    "web_topic",
]

MAX_PLAINTEXT = 3993  # 4096 - 86 header - 16 tag - 1 delimiter (RFC 8291 §4, docs/protocols/webpush.md §4)
DEFAULT_TTL = 2419200  # four weeks, the longest FCM keeps a message; autopush clamps at 30 days
URGENCIES = ("very-low", "low", "normal", "high")  # RFC 8030 §5.3
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # RFC 8030 §5.4: base64url alphabet, 32 at most
_HEADER_KEYS = frozenset({"headers", "topic", "urgency", "ttl"})
_URGENCY_OF = {Priority.HIGH: "high", Priority.NORMAL: "normal", Priority.LOW: "low"}


@dataclass(frozen=True, slots=True)
class WebPushMessage:
    """What is constant for every subscription: the plaintext and the headers."""

    plaintext: bytes
    ttl: int
    urgency: str | None = None
    topic: str | None = None

    def headers(self) -> list[tuple[str, str]]:
        """The RFC 8030 headers (lowercase, as HTTP/2 sends them), plus the
        content coding headers when there is a body."""
        out = [("ttl", str(self.ttl))]
        if self.plaintext:
            out += [("content-encoding", "aes128gcm"), ("content-type", "application/octet-stream")]
        if self.urgency is not None:
            out.append(("urgency", self.urgency))
        if self.topic is not None:
            out.append(("topic", self.topic))
        return out


def web_topic(collapse_key: str) -> str:
    """A Topic every push service accepts for ``collapse_key`` (kept if it already fits)."""
    if _TOPIC.match(collapse_key) and len(collapse_key) % 4 != 1:
        return collapse_key
    return hashlib.sha256(collapse_key.encode("utf-8")).hexdigest()[:32]


def build_json(notification: Notification, body: str | None = None) -> dict[str, Any]:
    """The JSON object (before the override's header keys are removed)."""
    n = notification
    text = n.body if body is None else body
    payload: dict[str, Any] = {}
    for key, value in (
        ("title", n.title),
        ("subtitle", n.subtitle),
        ("body", text),
        ("title_loc_key", n.title_loc_key),
        ("title_loc_args", n.title_loc_args),
        ("body_loc_key", n.body_loc_key),
        ("body_loc_args", n.body_loc_args),
        ("icon", n.icon),
        ("image", n.image),
        ("badge", n.badge_image),
        ("app_badge", n.badge),
        ("url", n.url),
        ("tag", n.collapse_key if n.collapse_key is not None else n.dedupe_id),
    ):
        if value is not None:
            payload[key] = value
    if n.actions:
        payload["actions"] = [
            {
                key: value
                for key, value in (("action", a.id), ("title", a.title), ("icon", a.icon), ("url", a.url))
                if value is not None
            }
            for a in n.actions
        ]
    if n.silent:
        payload["silent"] = True
    for key, flag in (("require_interaction", n.require_interaction), ("renotify", n.renotify),
                      ("starred", n.starred)):
        if flag:
            payload[key] = True
    if n.custom_data is not None:
        payload["custom_data"] = n.custom_data
    if n.custom_metrics:
        payload["custom_metrics"] = list(n.custom_metrics)
    if n.data:
        payload["data"] = copy.deepcopy(n.data)
    if n.webpush:
        payload = deep_merge(payload, {k: v for k, v in n.webpush.items()
                                       if k not in _HEADER_KEYS and k != DECLARATIVE})
        if n.webpush.get(DECLARATIVE):  # Safari's Declarative Web Push form, on request
            payload = to_declarative(payload)
    return payload


def _override_headers(override: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    headers = override.get("headers") or {}
    if not isinstance(headers, dict):
        raise InvalidNotification("must be an object", field="webpush.headers")
    for name, value in headers.items():
        if name.lower() not in ("ttl", "urgency", "topic"):
            raise InvalidNotification(
                f"only TTL, Urgency and Topic can be set, not {name!r}", field="webpush.headers"
            )
        found[name.lower()] = value
    for name in ("ttl", "urgency", "topic"):
        if override.get(name) is not None:
            found[name] = override[name]
    return found


def _ttl(notification: Notification, raw: Any, now: datetime | None) -> int:
    if raw is None:
        ttl = notification.ttl_seconds(now)
        return DEFAULT_TTL if ttl is None else ttl
    try:
        ttl = int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidNotification(f"TTL must be whole seconds, got {raw!r}", field="webpush.ttl") from exc
    if ttl < 0 or str(raw).strip().lstrip("+") != str(ttl):
        raise InvalidNotification(f"TTL must be a non-negative integer, got {raw!r}", field="webpush.ttl")
    return ttl


def build_payload(
    notification: Notification,
    *,
    max_size: int | None = None,
    now: datetime | None = None,
) -> WebPushMessage:
    """Build the plaintext and headers for ``notification``.

    :param max_size: opt in to trimming the body text so the plaintext fits
        this many bytes (capped at :data:`MAX_PLAINTEXT`).
    :param now: the time ``expiration`` is measured from (injected clocks).
    :raises PayloadTooLarge: the plaintext exceeds 3993 bytes and trimming was
        not requested or cannot help.
    :raises InvalidNotification: a header override is malformed.
    """
    override = _override_headers(notification.webpush or {})
    ttl = _ttl(notification, override.get("ttl"), now or datetime.now(UTC))

    urgency = override.get("urgency")
    if urgency is None and notification.priority is not None:
        urgency = _URGENCY_OF[notification.priority]
    if urgency is not None and urgency not in URGENCIES:
        raise InvalidNotification(f"Urgency must be one of {', '.join(URGENCIES)}", field="webpush.urgency")

    topic = override.get("topic")
    if topic is not None:
        topic = str(topic)
        if not _TOPIC.match(topic):
            raise InvalidNotification(
                "Topic is at most 32 characters of base64url (RFC 8030 §5.4)", field="webpush.topic"
            )
    elif notification.collapse_key:
        topic = web_topic(notification.collapse_key)
    elif notification.dedupe_id:  # already of the alphabet and length RFC 8030 §5.4 allows
        topic = web_topic(notification.dedupe_id)

    def encode(body: str | None) -> bytes:
        payload = build_json(notification, body)
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    plaintext = fit(
        encode, notification.body, provider="webpush", limit=MAX_PLAINTEXT, max_size=max_size
    )
    return WebPushMessage(plaintext=plaintext, ttl=ttl, urgency=urgency, topic=topic)
