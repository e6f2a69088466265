"""The compose page's live preview: each provider's payload exactly as it will be sent.

Built by the providers' own payload builders (``providers/<name>/payload.py``
``build_payload``, the functions the clients call in ``prepare()`` and the
submit path's size check runs through ``provider_spec(name).check_payload``),
so the bytes shown, their size and the limit are the ones that count:
APNs 4096 bytes (docs/protocols/apns.md), FCM 4096 (docs/protocols/fcm.md
§4.2), Web Push 3993 bytes of plaintext (RFC 8291 §4,
docs/protocols/webpush.md §4), WNS 5000 (docs/protocols/wns.md §5).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError as PydanticError

from pushgate.errors import InvalidNotification, PayloadTooLarge
from pushgate.notification import Notification
from pushgate.registry import ValidationError

PREVIEW_TOKEN = "DEVICE_TOKEN"  # stands for each device's token in the FCM body


@dataclass(frozen=True, slots=True)
class Wire:
    body: str
    headers: list[tuple[str, str]]
    size: int
    limit: int


@dataclass(frozen=True, slots=True)
class ProviderPreview:
    provider: str
    wire: Wire | None = None
    error: str | None = None
    size: int | None = None
    limit: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def share(self) -> float:
        """Size as a share of the limit, for the gauge (at most 1)."""
        if self.wire is not None:
            return min(1.0, self.wire.size / self.wire.limit)
        return 1.0 if self.size is not None else 0.0


def _pretty(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text  # WNS XML, or a raw notification


def _apns(notification: Notification, config: Mapping[str, Any], now: datetime) -> Wire:
    from pushgate.providers.apns.payload import PAYLOAD_LIMIT, VOIP_PAYLOAD_LIMIT, build_payload

    parts = build_payload(notification, bundle_id=str(config.get("topic") or "com.example.app"), now=now)
    limit = VOIP_PAYLOAD_LIMIT if parts.push_type == "voip" else PAYLOAD_LIMIT
    return Wire(_pretty(parts.body), parts.headers(), len(parts.body), limit)


def _fcm(notification: Notification, config: Mapping[str, Any], now: datetime) -> Wire:
    from pushgate.providers.fcm.payload import MESSAGE_LIMIT, build_payload

    payload = build_payload(notification, now=now)
    return Wire(_pretty(payload.body_for(PREVIEW_TOKEN)), [], payload.size, MESSAGE_LIMIT)


def _webpush(notification: Notification, config: Mapping[str, Any], now: datetime) -> Wire:
    from pushgate.providers.webpush.payload import MAX_PLAINTEXT, build_payload

    message = build_payload(notification, now=now)
    return Wire(_pretty(message.plaintext), message.headers(), len(message.plaintext), MAX_PLAINTEXT)


def _wns(notification: Notification, config: Mapping[str, Any], now: datetime) -> Wire:
    from pushgate.providers.wns.payload import WNS_MAX_PAYLOAD, build_payload

    payload = build_payload(notification, now=now)
    return Wire(_pretty(payload.body), list(payload.headers), len(payload.body), WNS_MAX_PAYLOAD)


BUILDERS: dict[str, Callable[[Notification, Mapping[str, Any], datetime], Wire]] = {
    "apns": _apns, "fcm": _fcm, "webpush": _webpush, "wns": _wns,
}


def preview(
    notification: Notification, providers: Mapping[str, Mapping[str, Any]], now: datetime
) -> list[ProviderPreview]:
    """One preview per provider (provider → its non-secret credentials, e.g. the APNs topic)."""
    out = []
    for name, config in providers.items():
        try:
            out.append(ProviderPreview(name, BUILDERS[name](notification, config, now)))
        except PayloadTooLarge as exc:
            out.append(ProviderPreview(name, error=str(exc), size=exc.size, limit=exc.limit))
        except InvalidNotification as exc:
            out.append(ProviderPreview(name, error=str(exc)))
    return out


_TEXT_FIELDS = ("title", "subtitle", "body", "image", "url", "sound", "collapse_key", "category", "thread_id")


def notification_from_form(get: Callable[[str], str]) -> Notification:
    """A Notification from the compose form's fields; errors name the field (``notification.badge``)."""
    document: dict[str, Any] = {name: get(name) for name in _TEXT_FIELDS if get(name)}
    for name in ("badge", "ttl"):
        if get(name):
            if not get(name).isdigit():
                raise ValidationError(f"notification.{name}", "a whole number")
            document[name] = int(get(name))
    if get("priority"):
        document["priority"] = get("priority")
    if get("silent"):
        document["silent"] = True
    if get("data"):
        try:
            document["data"] = json.loads(get("data"))
        except ValueError as exc:
            raise ValidationError("notification.data", f"not JSON: {exc}") from None
    try:
        notification = Notification.model_validate(document)
    except PydanticError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValidationError(f"notification.{where}", error["msg"]) from None
    try:
        notification.require_content()
    except InvalidNotification as exc:
        raise ValidationError("notification", str(exc)) from None
    return notification
