"""What an app sends to register a device, and its validation: :class:`DeviceSpec` → :class:`CleanDevice`.

Shared by single registrations (:mod:`pushgate.registry.devices`), bulk
imports (:mod:`pushgate.registry.bulk`) and the event mode's login events.
Every error is a :class:`ValidationError` naming the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from pushgate.field_names import unknown_field
from pushgate.providers import subscription_spec
from pushgate.registry._errors import ValidationError
from pushgate.registry.constants import Platform
from pushgate.registry.text import check_name, check_text
from pushgate.registry.users import validate_external_id
from pushgate.registry.validation import (
    DEFAULT_POLICY,
    ValidationPolicy,
    parse_subscription,
    validate_choice,
    validate_locale,
    validate_tags,
    validate_timezone,
    validate_token,
)

_TEXT_LIMITS = {"app_version": 50, "name": 200, "device_id": 200}


def token_hash(token: str) -> bytes:
    """The unique key of a token (tokens can be too long to index directly)."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """What an app sends to register a device (``None``: not given)."""

    provider: str
    token: str  # Web Push: the subscription endpoint; WNS: the channel URI
    p256dh: str | None = None
    auth: str | None = None
    user: str | None = None  # the app's user id
    platform: str | None = None
    app_version: str | None = None
    locale: str | None = None
    timezone: str | None = None
    name: str | None = None
    device_id: str | None = None  # the app's installation id
    tags: Sequence[str] | None = None  # replaces the device's tags when given

    @classmethod
    def from_subscription(
        cls, subscription: Mapping[str, Any] | str, provider: str | None = None, **other: Any
    ) -> DeviceSpec:
        """A Web Push device from ``PushSubscription.toJSON()`` (dict or JSON text).

        ``provider``, when given, must be the one whose devices are subscriptions.
        """
        kind = subscription_spec().name
        if provider is not None and provider != kind:
            raise ValidationError("provider", f"a subscription is a {kind} device")
        endpoint, p256dh, auth = parse_subscription(subscription)
        return cls(provider=kind, token=endpoint, p256dh=p256dh, auth=auth, **other)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DeviceSpec:
        """From a JSON object (bulk import rows); unknown or mistyped fields are errors."""
        return cls(**_mapping_values(data))


def _mapping_values(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A JSON object's fields, checked for names and types: DeviceSpec's keyword arguments."""
    values = data
    if "subscription" in data:
        copy = dict(data)
        endpoint, p256dh, auth = parse_subscription(copy.pop("subscription"))
        copy.setdefault("provider", subscription_spec().name)
        copy.update(token=endpoint, p256dh=p256dh, auth=auth)
        values = copy
    for key, value in values.items():
        if key not in _SPEC_FIELDS:
            raise ValidationError(key, unknown_field(key, _SPEC_FIELDS))
        if key == "tags":
            if value is not None and not isinstance(value, (list, tuple)):
                raise ValidationError("tags", "must be a list of strings")
        elif value is not None and not isinstance(value, str):
            raise ValidationError(key, "must be a string")
    if not values.get("provider"):
        raise ValidationError("provider", "required")
    if not values.get("token"):
        raise ValidationError("token", "required")
    return values


_SPEC_FIELDS = frozenset(f.name for f in fields(DeviceSpec))


@dataclass(slots=True)
class CleanDevice:
    """A validated, normalized :class:`DeviceSpec`, ready to store."""

    provider: str
    token: str
    token_hash: bytes
    p256dh: str | None
    auth: str | None
    user: str | None
    platform: str | None
    app_version: str | None
    locale: str | None
    timezone: str | None
    name: str | None
    device_id: str | None
    tags: list[str] | None


def clean_spec(spec: DeviceSpec, policy: ValidationPolicy = DEFAULT_POLICY) -> CleanDevice:
    """Validate a registration; raises ValidationError naming the field."""
    return _clean(
        spec.provider, spec.token, spec.p256dh, spec.auth, spec.user, spec.platform, spec.app_version,
        spec.locale, spec.timezone, spec.name, spec.device_id, spec.tags, policy=policy,
    )


def clean_mapping(data: Mapping[str, Any], policy: ValidationPolicy = DEFAULT_POLICY) -> CleanDevice:
    """``clean_spec(DeviceSpec.from_mapping(data))`` without the intermediate object (bulk import)."""
    return _clean(policy=policy, **_mapping_values(data))


def _clean(
    provider: str,
    token: str,
    p256dh: str | None = None,
    auth: str | None = None,
    user: str | None = None,
    platform: str | None = None,
    app_version: str | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    name: str | None = None,
    device_id: str | None = None,
    tags: Sequence[str] | None = None,
    *,
    policy: ValidationPolicy,
) -> CleanDevice:
    kind, token, p256dh, auth = validate_token(provider, token, p256dh=p256dh, auth=auth, policy=policy)
    if app_version is not None:
        check_text_field(app_version, "app_version")
    if name is not None:
        check_text_field(name, "name")
    if device_id is not None:
        check_text_field(device_id, "device_id")
    return CleanDevice(
        provider=kind.value,
        token=token,
        token_hash=token_hash(token),
        p256dh=p256dh,
        auth=auth,
        user=validate_external_id(user) if user is not None else None,
        platform=validate_choice(platform, Platform, "platform").value if platform else None,
        app_version=app_version,
        locale=validate_locale(locale) if locale else None,
        timezone=validate_timezone(timezone) if timezone else None,
        name=name,
        device_id=device_id or None,
        tags=validate_tags(tags) if tags is not None else None,
    )


def check_text_field(value: str, field: str, reported_as: str | None = None) -> None:
    """A device's free-text field (``app_version``, ``name``, ``device_id``) fits its column."""
    limit = _TEXT_LIMITS[field]
    if len(value) > limit:
        raise ValidationError(reported_as or field, f"at most {limit} characters")
    # A name is free text; the app's ids are not.
    (check_text if field == "name" else check_name)(value, reported_as or field)


__all__ = ["CleanDevice", "DeviceSpec", "check_text_field", "clean_mapping", "clean_spec", "token_hash"]
