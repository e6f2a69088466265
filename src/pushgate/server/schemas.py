"""Request and response bodies of the HTTP API (what /docs shows).

Requests forbid unknown fields, so a typo (``"plaform"``) is a 422 naming
it rather than a silently ignored value. Responses are validated from the
registry's views and rows (``from_attributes``) or built by ``from_*``
constructors; none of them has a field for a secret (API key hashes,
credentials, Web Push ``auth`` secrets), so a secret
cannot leak by being added to a row. The one exception is
:class:`ApiKeyCreated`, which carries a new key the one time it is shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from pushgate.notification import Notification
from pushgate.providers import PROVIDER_NAMES
from pushgate.registry import Delivery, Device, DeviceSpec, DeviceView, User, ValidationError
from pushgate.registry.constants import MAX_ID, MAX_TAG_LENGTH, Platform, ProviderName

T = TypeVar("T")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``?cursor=`` for the next (null: the end)."""

    items: list[T]
    next_cursor: str | None = None


# --- devices --------------------------------------------------------------------------


class SubscriptionKeys(BaseModel):
    p256dh: str
    auth: str


class Subscription(BaseModel):
    """A browser's ``PushSubscription.toJSON()``, as the page posts it."""

    model_config = ConfigDict(extra="ignore")  # browsers add expirationTime and may add more

    endpoint: str
    keys: SubscriptionKeys


class DeviceIn(_In):
    """Register a device, or update it when the token is known (a re-registration)."""

    provider: ProviderName | None = Field(None, description="Implied by `subscription`")
    token: str | None = Field(None, description="APNs/FCM token, Web Push endpoint or WNS channel URI")
    subscription: Subscription | None = Field(None, description="Web Push: the PushSubscription JSON")
    p256dh: str | None = None
    auth: str | None = None
    user: str | None = Field(None, min_length=1, max_length=255, description="The app's user id")
    platform: Platform | None = None
    app_version: str | None = Field(None, max_length=50)
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    device_id: str | None = Field(None, max_length=200, description="The app's installation id")
    tags: list[str] | None = Field(None, description="Replaces the device's tags when given")

    @model_validator(mode="before")
    @classmethod
    def _push_subscription_as_it_is(cls, data: Any) -> Any:
        """The browser's ``PushSubscription.toJSON()`` may be posted as it is (bare,
        with ``user`` and the other fields beside it) or as a Web Push ``token``."""
        if not isinstance(data, dict):
            return data
        if "endpoint" in data and "keys" in data and "subscription" not in data and "token" not in data:
            data = dict(data)
            sub = {k: data.pop(k) for k in ("endpoint", "keys", "expirationTime") if k in data}
            return {**data, "subscription": sub}
        token = data.get("token")
        if isinstance(token, dict) and data.get("provider") in (None, "webpush"):
            return {**{k: v for k, v in data.items() if k != "token"}, "subscription": token}
        return data

    def to_spec(self) -> DeviceSpec:
        others: dict[str, Any] = {
            "user": self.user, "app_version": self.app_version, "locale": self.locale,
            "timezone": self.timezone, "name": self.name, "device_id": self.device_id, "tags": self.tags,
            "platform": self.platform.value if self.platform else None,
        }
        if self.subscription is not None:
            if self.token is not None or self.p256dh is not None or self.auth is not None:
                raise ValidationError("subscription", "give either subscription or token/p256dh/auth")
            provider = self.provider.value if self.provider else None
            return DeviceSpec.from_subscription(self.subscription.model_dump(), provider, **others)
        if self.provider is None:
            raise ValidationError("provider", f"required ({', '.join(PROVIDER_NAMES)})")
        if not self.token:
            raise ValidationError("token", "required")
        return DeviceSpec(self.provider.value, self.token, p256dh=self.p256dh, auth=self.auth, **others)


class DevicePatch(_In):
    """Change a device's attributes without re-registering it (``null`` clears a field)."""

    user: str | None = Field(None, min_length=1, max_length=255)
    platform: Platform | None = None
    app_version: str | None = Field(None, max_length=50)
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    tags: list[str] | None = None
    active: bool | None = Field(None, description="false: stop sending to it; true: resume")


class DeviceOut(BaseModel):
    # Validated from the registry's DeviceView (no docstring: it would become the schema's description).
    model_config = ConfigDict(from_attributes=True)

    id: int
    provider: str
    token: str
    user: str | None
    platform: str | None
    app_version: str | None
    locale: str | None
    timezone: str | None
    name: str | None
    device_id: str | None
    tags: list[str]
    active: bool
    inactive_reason: str | None
    created_at: datetime
    updated_at: datetime
    registered_at: datetime
    last_seen_at: datetime
    unregistered_at: datetime | None

    @classmethod
    def from_device(cls, device: Device) -> DeviceOut:
        return cls.model_validate(DeviceView.of(device))


class RowErrorOut(BaseModel):
    index: int = Field(description="Position of the row in the request, from 0")
    field: str
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    evicted: int
    errors: list[RowErrorOut]


class DeviceDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # validated from a registry Delivery row

    send_id: str
    provider: str
    status: str
    reason: str | None
    message_id: str | None
    attempts: int
    updated_at: datetime

    @classmethod
    def from_delivery(cls, row: Delivery) -> DeviceDeliveryOut:
        return cls.model_validate(row)


# --- users ----------------------------------------------------------------------------


class UserIn(_In):
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = Field(None, max_length=64)
    tags: list[str] | None = Field(None, description="Replaces the user's tags when given")


class TagsIn(_In):
    tags: list[str] = Field(min_length=1)


class OptOutIn(_In):
    topic: str = Field("*", min_length=1, max_length=MAX_TAG_LENGTH, description='"*": everything')


class OptOutsOut(BaseModel):
    opt_outs: list[str] = Field(description='Topics the user opted out of ("*": everything), sorted')


class UserOut(BaseModel):
    external_id: str
    locale: str | None
    timezone: str | None
    tags: list[str]
    opt_outs: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        return cls(external_id=user.external_id, locale=user.locale, timezone=user.timezone,
                   tags=user.tags, opt_outs=user.optouts, created_at=user.created_at,
                   updated_at=user.updated_at)


# --- sends ----------------------------------------------------------------------------


class TargetIn(_In):
    """Exactly one of tokens, device_ids, users or all; optionally narrowed by the filters.

    Or, alone, an FCM ``topic`` or ``condition``: one FCM request, which FCM fans
    out to the topic's subscribers (the app needs FCM credentials).
    """

    tokens: list[str] | None = None
    device_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None
    users: list[str] | None = Field(None, description="The app's user ids: all their active devices")
    all: bool | None = Field(None, description="true: every active device of the app")
    platforms: list[Platform] | None = None
    providers: list[ProviderName] | None = None
    tags: list[str] | str | None = Field(None, description=(
        "A tag expression as Pushpad's (\"a && !b || c\"; parentheses allowed), or a list of them "
        "OR-ed; matched against the tags of the device and of its user (docs/targeting.md)"))
    topic: str | None = Field(None, description=(
        "Alone: the FCM topic to send to ([a-zA-Z0-9-_.~%]{1,900}). "
        "With tokens, device_ids, users or all: skip users who opted out of this topic"))
    condition: str | None = Field(None, description=(
        "Alone: an FCM topic condition, e.g. \"'a' in topics && !('b' in topics)\" (at most 5 topics)"))

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class SendIn(_In):
    notification: Notification
    target: TargetIn
    send_at: AwareDatetime | None = Field(None, description="Deliver later (with a time zone)")
    local_time: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description=(
        "Deliver at the next HH:MM in each user's own time zone (the app's for users without one); "
        "answered with one scheduled send per group of zones (docs/targeting.md)"))


class SendAccepted(BaseModel):
    """The answer to a send: it is stored and will be delivered (or end with a recorded reason)."""

    id: str
    status: str
    targeted: int | None = Field(description="Matching active devices now; null for a scheduled send")
    send_at: datetime | None
    created_at: datetime
    unknown_users: list[str] | None = Field(
        None, description="A send to users: the first 100 of those the app never registered (else absent)",
    )
    unknown_user_count: int | None = Field(None, description="A send to users: how many are unknown")
    unknown_tokens: list[str] | None = Field(
        None, description="A send to tokens: the first 100 of those the app has no device for (else absent)",
    )
    unknown_token_count: int | None = Field(None, description="A send to tokens: how many are unknown")
    scheduled: int | None = Field(None, description=(
        "Pushpad's name for targeted: the devices the send will reach (absent for a scheduled send)"))
    uids: list[str] | None = Field(None, description=(
        "A send to users, not scheduled: those of them it reaches (Pushpad's deliver_to answer)"))


class SendStatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # validated from the registry's SendStatusView

    id: str
    status: str
    targeted: int
    sent: int
    failed: int
    dead: int
    expired: int
    cancelled: int
    pending: int
    created_at: datetime
    send_at: datetime | None
    finished_at: datetime | None


class SendDeliveryOut(BaseModel):
    device_id: int | None = Field(description="Null for a send to an FCM topic or condition")
    topic: str | None = Field(None, description="The FCM topic of a topic send (its one delivery)")
    condition: str | None = Field(None, description="The FCM condition of a condition send")
    token: str | None = Field(description="Shortened; null when the device was deleted")
    provider: str
    status: str
    reason: str | None
    message_id: str | None
    attempts: int
    updated_at: datetime


class TopicOperationIn(_In):
    """Exactly one of tokens (FCM registration tokens) or users (their active FCM devices)."""

    tokens: list[str] | None = None
    users: list[str] | None = None


class TopicOperationOut(BaseModel):
    id: str
    topic: str
    action: str
    status: str = Field(description="queued, done or failed (see error)")
    requested: int = Field(description="Tokens the operation acts on")
    succeeded: int
    failed: int
    errors: list[dict[str, Any]] | None = Field(
        description="Per-token errors (at most 100), tokens shortened")
    error: str | None
    created_at: datetime
    finished_at: datetime | None


# --- apps (admin) -----------------------------------------------------------------------


class AppSettingsIn(_In):
    max_devices_per_user: int | None = Field(None, ge=1, description="Oldest devices beyond it are retired")
    rate_limit_per_minute: int | None = Field(
        None, ge=1, description="Requests per API key per minute (null: the server's rate_limit_per_minute)"
    )


class AppCreate(_In):
    name: str = Field(min_length=1, max_length=200)
    settings: AppSettingsIn | None = None


class KeyCreate(_In):
    name: str | None = Field(None, max_length=200)


class AppOut(BaseModel):
    id: int
    name: str
    settings: dict[str, Any]
    created_at: datetime
    providers: list[str] = Field(description="Providers the app has credentials for")
    unreadable_credentials: dict[str, str] = Field(
        default_factory=dict, description="Providers whose stored credentials this server's secret_key "
        "cannot decrypt, with why (see CredentialsOut.unreadable); empty when every one is usable")


class ApiKeyOut(BaseModel):
    id: int
    name: str | None
    prefix: str = Field(description="Identifies the key in lists; the key itself is never shown again")
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key. Shown once: store it now")


class AppCreated(BaseModel):
    app: AppOut
    api_key: ApiKeyCreated


_UNREADABLE = ("Set when this server's secret_key cannot decrypt the stored credentials (they were "
              "stored with another key): why, in the words sends with them fail with. Their secrets "
              "show as *** all the same")


class CredentialsOut(BaseModel):
    provider: str
    config: dict[str, Any] = Field(description="Secrets are shown as ***")
    updated_at: datetime
    unreadable: str | None = Field(None, description=_UNREADABLE)


class ProviderState(BaseModel):
    """A provider of the app: configured, and whether sending is paused by a credential error."""

    provider: str
    configured: bool
    paused: bool = False
    paused_until: datetime | None = None
    error: str | None = Field(None, description="The provider's last answer rejecting the credentials")
    unreadable: str | None = Field(None, description=_UNREADABLE)


class AppSelf(AppOut):
    """The app an API key belongs to, with the state of its providers."""

    provider_states: list[ProviderState]
