"""Changing a registered device's attributes (``PATCH /v1/devices/{id}``).

Not a re-registration: ``registered_at`` stays as it is, because the
dead-token rule compares it with the provider's "unregistered since"
timestamp — editing a device's tags must not make a dead token look fresh.
Only the fields present in the request change; ``null`` clears one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from pushgate.registry import Device
from pushgate.registry.devices import evict_beyond_limit, set_device_tags
from pushgate.registry.users import ensure_users, validate_external_id
from pushgate.registry.validation import validate_locale, validate_tags, validate_timezone
from pushgate.server.schemas import DevicePatch

# Why a device was deactivated through the API (providers' reasons are stored verbatim).
REASON_DEACTIVATED = "DeactivatedByApp"


def patch_device(
    session: Session,
    device: Device,
    patch: DevicePatch,
    *,
    max_devices: int | None,
    now: datetime,
) -> None:
    """Apply ``patch`` to ``device`` (validated like a registration)."""
    given = patch.model_fields_set
    if "user" in given:
        if patch.user is None:
            device.user_id = None
        else:
            external_id = validate_external_id(patch.user)
            device.user_id = ensure_users(session, device.app_id, [external_id], now=now)[external_id]
    if "platform" in given:
        device.platform = patch.platform.value if patch.platform is not None else None
    if "app_version" in given:
        device.app_version = patch.app_version
    if "name" in given:
        device.name = patch.name
    if "locale" in given:
        device.locale = validate_locale(patch.locale) if patch.locale else None
    if "timezone" in given:
        device.timezone = validate_timezone(patch.timezone) if patch.timezone else None
    if "tags" in given:
        set_device_tags(device, validate_tags(patch.tags or []))
    if "active" in given and patch.active is not None and patch.active != device.active:
        device.active = patch.active
        device.inactive_reason = None if patch.active else REASON_DEACTIVATED
        device.unregistered_at = None if patch.active else now
    device.updated_at = now
    session.flush()
    if device.user_id is not None and device.active and max_devices and {"user", "active"} & given:
        evict_beyond_limit(session, [device.user_id], max_devices, now=now, keep=device.id)
    session.refresh(device)
