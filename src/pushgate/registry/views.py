"""Read-only views of registry rows: what callers outside the registry get to see.

Frozen dataclasses, detached from any session, so a caller can keep and
pass them on after the transaction ended, and cannot write through them.
The HTTP API's response models are validated from these views
(``from_attributes``) rather than copied field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pushgate.registry.models import Device


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device as the API shows it; no Web Push ``auth`` secret, no token hash."""

    id: int
    app_id: int
    provider: str
    token: str  # Web Push: the endpoint; WNS: the channel URI
    user: str | None  # the app's user id
    platform: str | None
    app_version: str | None
    locale: str | None
    timezone: str | None
    name: str | None
    device_id: str | None  # the app's installation id
    tags: tuple[str, ...]
    active: bool
    inactive_reason: str | None
    created_at: datetime
    updated_at: datetime
    registered_at: datetime
    last_seen_at: datetime
    unregistered_at: datetime | None

    @classmethod
    def of(cls, device: Device) -> DeviceView:
        return cls(
            id=device.id, app_id=device.app_id, provider=device.provider, token=device.token,
            user=device.user_external_id, platform=device.platform, app_version=device.app_version,
            locale=device.locale, timezone=device.timezone, name=device.name, device_id=device.device_id,
            tags=tuple(device.tags), active=device.active, inactive_reason=device.inactive_reason,
            created_at=device.created_at, updated_at=device.updated_at, registered_at=device.registered_at,
            last_seen_at=device.last_seen_at, unregistered_at=device.unregistered_at,
        )


__all__ = ["DeviceView"]
