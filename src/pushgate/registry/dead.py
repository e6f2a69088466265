"""Dead tokens: deactivation the way the providers ask.

APNs 410 Unregistered (with its timestamp), BadDeviceToken, FCM
UNREGISTERED, Web Push 404/410 and WNS 404/410 mean the token is gone. The
device is deactivated — unless it registered again after the provider's
timestamp, in which case the app holds a fresh registration and the
provider's verdict is about an older one (Apple's documented rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, true, update
from sqlalchemy.orm import Session

from pushgate.registry.devices import expire_loaded, find_device
from pushgate.registry.models import UTCDateTime, devices_table, utcnow

# "No provider timestamp": a dead token without one is always deactivated.
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DeadToken:
    """A provider said a device's token is gone (APNs 410, FCM UNREGISTERED, Web Push 404/410)."""

    device_id: int
    reason: str  # the provider's reason, e.g. "Unregistered"
    provider_timestamp: datetime | None = None  # APNs: when the token stopped being valid


def deactivate_dead(
    session: Session,
    app_id: int,
    provider: str,
    token: str,
    provider_timestamp: datetime | None = None,
    *,
    reason: str = "Unregistered",
    now: datetime | None = None,
) -> bool:
    """Deactivate a dead token unless the device re-registered after ``provider_timestamp``.

    Apple's rule for 410 Unregistered: the timestamp says when the token
    became invalid; a registration after it means the app has a fresh,
    valid registration of that token, so it must stay active. Without a
    timestamp the device is deactivated. Returns whether it was.
    """
    device = find_device(session, app_id, token, provider)
    if device is None:
        return False
    return deactivate_devices(session, [DeadToken(device.id, reason, provider_timestamp)], now=now) > 0


def deactivate_devices(
    session: Session, dead: Sequence[DeadToken], *, now: datetime | None = None
) -> int:
    """The bulk form of :func:`deactivate_dead`, by device id (one executemany)."""
    if not dead:
        return 0
    now = now or utcnow()
    table = devices_table
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.active == true(),
            table.c.registered_at <= bindparam("b_since", type_=UTCDateTime()),
        )
        .values(active=False, inactive_reason=bindparam("b_reason"), unregistered_at=now, updated_at=now)
    )
    params = [
        {"b_id": d.device_id, "b_reason": d.reason[:100], "b_since": d.provider_timestamp or FAR_FUTURE}
        for d in dead
    ]
    result = session.connection().execute(statement, params)
    expire_loaded(session, (d.device_id for d in dead))
    return max(result.rowcount, 0)
