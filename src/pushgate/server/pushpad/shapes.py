"""Pushpad's JSON shapes ⇄ pushgate's models (https://pushpad.xyz/docs/rest_api).

Field mapping of a notification (docs/pushpad.md has the table):
``body``/``title`` as they are, ``target_url`` → ``url``, ``icon_url`` →
``icon``, ``badge_url`` → ``badge_image``, ``image_url`` → ``image``,
``ttl``, ``require_interaction``, ``custom_data``, ``starred``,
``custom_metrics`` as they are, ``urgent`` → priority high (Web Push
``Urgency: high``), ``silent`` (Pushpad: no sound or vibration) → the Web
Push JSON's ``silent`` through the ``webpush`` block — not pushgate's
``silent``, which means a background message; ``actions`` → action buttons
(``action`` is the id, ``target_url`` the button's URL); ``uids`` → the
users, ``tags`` → the tag expression; ``send_at`` → a scheduled send.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pushgate.notification import Action, Notification, Priority
from pushgate.registry import Device, ValidationError
from pushgate.registry.models import App, Send


def web_push_ttl() -> int:
    """The TTL a Web Push message gets when none is set (imported here: an idle server loads no
    send stack)."""
    from pushgate.providers.webpush.payload import DEFAULT_TTL

    return DEFAULT_TTL


def timestamp(value: datetime | None) -> str | None:
    """Pushpad's time format: UTC with milliseconds, ``2025-07-06T10:09:14.000Z``."""
    if value is None:
        return None
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    target_url: str | None = None
    icon: str | None = None
    action: str | None = Field(None, min_length=1, max_length=64)


class NotificationIn(BaseModel):
    """The body of ``POST /projects/{id}/notifications``: every field pushpad-python sends."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1)
    title: str | None = None
    target_url: str | None = None
    icon_url: str | None = None
    badge_url: str | None = None
    image_url: str | None = None
    ttl: int | None = Field(None, ge=0)
    require_interaction: bool | None = None
    silent: bool | None = None
    urgent: bool | None = None
    custom_data: str | None = None
    actions: list[ActionIn] | None = None
    starred: bool | None = None
    send_at: datetime | None = None
    custom_metrics: list[str] | None = Field(None, max_length=3)
    uids: list[str] | None = None
    tags: list[str] | str | None = None

    def notification(self, project_silent: bool) -> Notification:
        given = self.model_fields_set
        fields: dict[str, Any] = {"body": self.body}
        for ours, theirs in (("title", "title"), ("url", "target_url"), ("icon", "icon_url"),
                             ("badge_image", "badge_url"), ("image", "image_url"), ("ttl", "ttl"),
                             ("require_interaction", "require_interaction"), ("custom_data", "custom_data"),
                             ("starred", "starred"), ("custom_metrics", "custom_metrics")):
            if theirs in given and getattr(self, theirs) is not None:
                fields[ours] = getattr(self, theirs)
        if self.urgent:
            fields["priority"] = Priority.HIGH
        if self.silent if "silent" in given else project_silent:
            fields["webpush"] = {"silent": True}
        if self.actions:
            fields["actions"] = [
                Action(id=item.action or f"action{number}", title=item.title, url=item.target_url,
                       icon=item.icon)
                for number, item in enumerate(self.actions, 1)
            ]
        return Notification(**fields)

    def target(self) -> dict[str, Any]:
        target: dict[str, Any] = {"users": self.uids} if self.uids is not None else {"all": True}
        if self.tags:
            target["tags"] = self.tags
        return target

    def due(self) -> datetime | None:
        if self.send_at is None:
            return None
        return self.send_at if self.send_at.tzinfo else self.send_at.replace(tzinfo=UTC)  # Pushpad: UTC


def notification_json(number: int, send: Send) -> dict[str, Any]:
    """A stored send as Pushpad's notification object."""
    note = send.notification
    target = send.target
    webpush = note.get("webpush") or {}
    actions = [{"title": a["title"], "target_url": a.get("url"), "icon": a.get("icon"), "action": a["id"]}
               for a in note.get("actions") or []]
    tags = target.get("tags")
    scheduled = send.status == "queued" and send.send_at is not None and send.send_at > datetime.now(UTC)
    return {
        "id": number, "project_id": send.app_id,
        "title": note.get("title"), "body": note.get("body"), "target_url": note.get("url"),
        "icon_url": note.get("icon"), "badge_url": note.get("badge_image"), "image_url": note.get("image"),
        "ttl": note.get("ttl", web_push_ttl()),
        "require_interaction": bool(note.get("require_interaction")),
        "silent": bool(webpush.get("silent")), "urgent": note.get("priority") == Priority.HIGH.value,
        "custom_data": note.get("custom_data"), "actions": actions,
        "starred": bool(note.get("starred")), "send_at": timestamp(send.send_at),
        "custom_metrics": note.get("custom_metrics") or [],
        "uids": target.get("users"), "tags": [tags] if isinstance(tags, str) else tags,
        "created_at": timestamp(send.created_at),
        "successfully_sent_count": send.sent, "opened_count": 0,  # opens are not tracked here
        "scheduled_count": max(send.targeted, send.audience or 0),
        "scheduled": scheduled, "cancelled": send.status == "cancelled",
    }


def subscription_json(device: Device) -> dict[str, Any]:
    return {
        "id": device.id, "project_id": device.app_id, "endpoint": device.token,
        "p256dh": device.p256dh, "auth": device.auth, "uid": device.user_external_id,
        "tags": device.tags, "last_click_at": None, "created_at": timestamp(device.created_at),
    }


def project_json(app: App, attributes: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": app.id, "sender_id": attributes.get("sender_id"), "name": app.name,
        "website": attributes.get("website"), "icon_url": defaults.get("icon"),
        "badge_url": defaults.get("badge_image"), "notifications_ttl": defaults.get("ttl", web_push_ttl()),
        "notifications_require_interaction": bool(defaults.get("require_interaction")),
        "notifications_silent": bool(attributes.get("notifications_silent")),
        "created_at": timestamp(app.created_at),
    }


def positive(value: int | None, field: str, default: int) -> int:
    if value is None:
        return default
    if value < 1:
        raise ValidationError(field, "from 1")
    return value
