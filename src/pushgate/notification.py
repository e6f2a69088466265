"""The provider-neutral notification model.

One :class:`Notification` describes what the user should see (or what the app
should receive silently); the payload builders (``pushgate.providers.<name>.payload``)
turn it into each provider's wire format. Anything the model does not name
goes into the raw per-provider override blocks (``apns``, ``fcm``,
``webpush``, ``wns``), which are merged last, so nothing a provider offers is
out of reach.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pushgate.errors import InvalidNotification

MAX_BADGE = 2**31 - 1  # a signed 32-bit integer (APNs aps.badge, FCM notification_count)


def _unicode_only(value: Any) -> Any:
    """Refuse text that is not Unicode (a lone surrogate, e.g. from a bad decode): it cannot
    be encoded as UTF-8 for any provider, and would fail deep inside a payload builder."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode text (it holds a lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _unicode_only(key)
            _unicode_only(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _unicode_only(item)
    return value


class Priority(StrEnum):
    """Delivery priority, mapped per provider.

    APNs ``apns-priority`` 10/5/1, FCM android ``HIGH``/``NORMAL``, Web Push
    ``Urgency`` high/normal/low (RFC 8030 §5.3).
    """

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class InterruptionLevel(StrEnum):
    """APNs ``aps.interruption-level`` (docs/protocols/apns.md §4)."""

    PASSIVE = "passive"
    ACTIVE = "active"
    TIME_SENSITIVE = "time-sensitive"
    CRITICAL = "critical"


APNsPushType = Literal[
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
    "widgets",
    "controls",
]


class Action(BaseModel):
    """A button on the notification (Web Push ``actions``, WNS toast actions,
    APNs/FCM through the category or click action)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None

    _unicode = field_validator("*", mode="before")(_unicode_only)


class CriticalSound(BaseModel):
    """An APNs critical alert sound (needs Apple's entitlement)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "default"
    volume: float = Field(default=1.0, ge=0.0, le=1.0)


class Notification(BaseModel):
    """What to deliver, independent of the provider.

    Every field is optional, but something must be said: the API and the
    APNs, FCM and WNS payload builders refuse an empty notification
    (:attr:`is_empty`; Web Push keeps the protocol's empty push message).
    A notification with only ``data`` and ``silent=True`` is a data-only
    (background) message.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Visible content
    title: str | None = None
    subtitle: str | None = None
    body: str | None = None
    title_loc_key: str | None = None
    title_loc_args: list[str] | None = None
    body_loc_key: str | None = None
    body_loc_args: list[str] | None = None
    image: str | None = None
    icon: str | None = None
    # APNs' aps.badge and FCM's notification_count are 32-bit integers: a larger
    # number is not sent (and 10**30 was). WNS shows at most 99 (its payload builder checks).
    badge: int | None = Field(default=None, ge=0, le=MAX_BADGE)
    sound: str | CriticalSound | None = None
    url: str | None = Field(default=None, description="Click URL or deep link")
    actions: list[Action] | None = None
    category: str | None = None
    thread_id: str | None = None

    # Web notification options Pushpad users expect (https://pushpad.xyz/docs/rest_api,
    # notification fields). Web Push only: the service worker reads them from the JSON
    # (providers/webpush/payload.py); the other providers have no such option. None: not
    # given, so an app's notification defaults may fill it (docs/pushpad.md).
    badge_image: str | None = Field(default=None, description=(
        "Web: the small monochrome image in the status bar (Notification.badge); not the APNs badge count"))
    require_interaction: bool | None = Field(default=None, description=(
        "Web: keep the notification on screen until the user acts (Notification.requireInteraction)"))
    renotify: bool | None = Field(default=None, description=(
        "Web: alert again when it replaces a notification with the same tag (Notification.renotify)"))
    starred: bool | None = Field(default=None, description="Bookmark the notification (Pushpad's starred)")
    custom_data: str | None = Field(default=None, description=(
        "Web: a string handed to the action handlers in the service worker (Pushpad's custom_data)"))
    custom_metrics: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=3, description="Up to 3 labels to aggregate statistics by")

    # Data and behaviour
    data: dict[str, Any] | None = None
    silent: bool = Field(default=False, description="Background / content-available, no alert")
    mutable_content: bool = False
    collapse_key: str | None = None
    # An identifier that makes a repeated delivery replace the notification already shown
    # instead of appearing twice, without being a collapse key (FCM keeps only four collapse
    # keys per offline device). Used when collapse_key is unset: APNs apns-collapse-id, FCM
    # android.notification.tag and its apns-collapse-id, Web Push Topic and tag, WNS
    # X-WNS-Tag. At most 16 URL-safe base64 characters, which fits each provider's limit
    # (WNS X-WNS-Tag: 16, docs/protocols/wns.md §3.1; Topic: 32, RFC 8030 §5.4). The server
    # derives one from each send; the library sends none unless the caller sets it.
    dedupe_id: str | None = Field(default=None, min_length=2, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")

    # Delivery
    ttl: int | None = Field(default=None, ge=0, description="Seconds the provider may store it")
    expiration: datetime | None = Field(default=None, description="Absolute expiry; wins over ttl")
    priority: Priority | None = None

    # APNs specifics the model names
    push_type: APNsPushType | None = None
    interruption_level: InterruptionLevel | None = None
    relevance_score: float | None = Field(default=None, ge=0.0, le=1.0)
    action_loc_key: str | None = Field(default=None, description="APNs alert action-loc-key")
    launch_image: str | None = Field(default=None, description="APNs alert launch-image")

    # FCM specifics the model names
    restricted_package_name: str | None = Field(
        default=None, description="FCM android.restricted_package_name: only this app receives it")

    # Raw per-provider blocks, deep-merged last into the built payload.
    apns: dict[str, Any] | None = None
    fcm: dict[str, Any] | None = None
    webpush: dict[str, Any] | None = None
    wns: dict[str, Any] | None = None

    _unicode = field_validator("*", mode="before")(_unicode_only)

    @field_validator("expiration")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _loc_args_need_key(self) -> Notification:
        if self.title_loc_args and not self.title_loc_key:
            raise ValueError("title_loc_args needs title_loc_key")
        if self.body_loc_args and not self.body_loc_key:
            raise ValueError("body_loc_args needs body_loc_key")
        return self

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to deliver: no content, no data, not silent, no raw block.

        Delivery options alone (ttl, priority, collapse key...) are not a message;
        sent anyway, APNs would get ``{"aps":{}}``.
        """
        return not (
            self.has_alert or self.silent or self.data or self.badge is not None or self.sound is not None
            or self.image or self.icon or self.url or self.actions or self.custom_data
            or self.apns or self.fcm or self.webpush or self.wns
        )

    def require_content(self) -> None:
        """Raise :class:`~pushgate.errors.InvalidNotification` for an empty notification."""
        if self.is_empty:
            raise InvalidNotification(
                "an empty notification: give a title, body, badge, sound or data, or mark it silent"
            )

    @property
    def has_alert(self) -> bool:
        """True when the user would see something."""
        return any(
            (self.title, self.subtitle, self.body, self.title_loc_key, self.body_loc_key)
        )

    def ttl_seconds(self, now: datetime | None = None) -> int | None:
        """Seconds left to live, from ``expiration`` if set, else ``ttl``."""
        if self.expiration is not None:
            now = now or datetime.now(UTC)
            return max(0, int((self.expiration - now).total_seconds()))
        return self.ttl

    def expires_at(self, now: datetime | None = None) -> int | None:
        """Absolute expiry as epoch seconds (APNs ``apns-expiration``)."""
        if self.expiration is not None:
            return int(self.expiration.timestamp())
        if self.ttl is not None:
            now = now or datetime.now(UTC)
            return int(now.timestamp()) + self.ttl
        return None

    def with_badge(self, badge: int | None) -> Notification:
        """A copy with another badge (per-token badges in bulk sends)."""
        return self.model_copy(update={"badge": badge})
