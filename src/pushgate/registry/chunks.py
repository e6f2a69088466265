"""A delivery job's devices: the chunk a sender worker loads before it sends.

The planner fans a send out into jobs that carry device ids only; the
worker loads what it needs of those devices when the job runs, so a device
deleted or deactivated meanwhile is settled instead of sent to, and a job
re-run after a crash skips the devices whose outcome is already recorded.
It loads the send's content too (:func:`load_send_content`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select

from pushgate.registry.constants import (
    REASON_CANCELLED,
    REASON_DEVICE_DELETED,
    REASON_DEVICE_INACTIVE,
    TOPIC_DEVICE_ID,
    DeliveryStatus,
    ProviderName,
    SendStatus,
)
from pushgate.registry.db import Database
from pushgate.registry.models import deliveries_table, sends_table
from pushgate.registry.outcomes import Outcome, record_outcomes_on

_s = sends_table.c


class DeviceRow(NamedTuple):
    """What a sender worker needs of one device (a NamedTuple: built per device, cheaply)."""

    id: int
    provider: str
    token: str  # Web Push: the endpoint; WNS: the channel URI
    p256dh: str | None
    auth: str | None
    platform: str | None
    app_version: str | None
    locale: str | None  # the device's, else its user's (for localized templates)
    timezone: str | None  # the device's, else its user's
    user: str | None  # the app's user id
    # No timestamps: the dead-token rule ("unless it re-registered after the
    # provider's timestamp") is applied in SQL by deactivate_devices.


@dataclass(frozen=True, slots=True)
class SendContent:
    """What a delivery job needs of its send."""

    status: str
    notification: dict[str, Any]
    start: datetime  # send_at, or when the send was created: TTLs count from here
    per_device: bool = False  # an event send: each device's text is in event_texts (docs/events.md)


def load_send_content(db: Database, send_id: str) -> SendContent | None:
    """The send's notification and start; None when the send is gone or cancelled."""
    with db.connect(write=False) as connection:
        row = connection.execute(
            select(_s.status, _s.notification, _s.created_at, _s.send_at, _s.target).where(_s.id == send_id)
        ).one_or_none()
    if row is None or row.status == SendStatus.CANCELLED:
        return None
    return SendContent(row.status, row.notification, row.send_at or row.created_at,
                       per_device="event_batch" in row.target)


def load_chunk(
    db: Database,
    send_id: str,
    provider: str,
    device_ids: Sequence[int],
    *,
    now: datetime | None = None,
) -> list[DeviceRow]:
    """The devices of a delivery job that still need this send, loaded in one query.

    Skips devices that already have a delivery row for the send, so a job
    re-run after a crash does not re-send what was already recorded.
    Devices deleted or deactivated since fan-out get their final row here
    (failed: DeviceDeleted / DeviceInactive), so the send's pending count
    still reaches zero. A cancelled send yields nothing and records the
    chunk's devices without an outcome as cancelled (so every delivery ends
    in a final state and ``pending`` reaches zero); an unknown send yields nothing.
    """
    wanted = list(device_ids)
    with db.connect(write=False) as connection:
        status = connection.execute(select(_s.status).where(_s.id == send_id)).scalar()
    if status == SendStatus.CANCELLED:
        cancelled = [Outcome(i, DeliveryStatus.CANCELLED, REASON_CANCELLED, attempts=0) for i in wanted]
        with db.connect() as connection:  # ON CONFLICT DO NOTHING: recorded devices keep their outcome
            record_outcomes_on(connection, send_id, provider, cancelled, now=now)
        return []
    with db.connect(write=False) as connection:
        if status is None:
            return []
        rows: Sequence[Sequence[Any]]
        if connection.dialect.name == "sqlite":
            found_json = connection.exec_driver_sql(_CHUNK_SQLITE, (send_id, json.dumps(wanted))).scalar_one()
            rows = sorted(json.loads(found_json))
        else:
            rows = connection.exec_driver_sql(_CHUNK_POSTGRESQL, (send_id, wanted)).all()
    found: set[int] = set()
    settle: list[Outcome] = []
    devices: list[DeviceRow] = []
    for (device_id, provider, token, p256dh, auth, platform, app_version, locale, timezone, user,
         active, recorded) in rows:
        found.add(device_id)
        if recorded is not None:
            continue
        if not active:
            settle.append(Outcome(device_id, DeliveryStatus.FAILED, REASON_DEVICE_INACTIVE))
            continue
        devices.append(DeviceRow(
            device_id, provider, token, p256dh, auth, platform, app_version, locale, timezone, user
        ))
    settle.extend(Outcome(i, DeliveryStatus.FAILED, REASON_DEVICE_DELETED) for i in wanted if i not in found)
    if settle:
        with db.connect() as connection:
            record_outcomes_on(connection, send_id, provider, settle, now=now)
    return devices


# One statement whatever the chunk size (the id list is one parameter), so
# the driver parses it once; raw rows because SQLAlchemy's per-row result
# processing costs more than the query at tens of thousands of rows/s.
# SQLite answers with one row, the chunk as a JSON array (sorted here): the
# sqlite3 module releases and re-takes the GIL around every row it steps to,
# and in the server each re-take waits for the event loop, so 500 rows one by
# one took tens of milliseconds where one JSON string takes well under one.
#
# Whether a device's delivery is recorded is a subquery per device, a probe of the
# deliveries key (send_id, device_id), not a join: a new send's id is in no statistics,
# so PostgreSQL expects it to have few deliveries and joined the chunk to all of them
# (a hash or merge join over every delivery the send had so far), which made each
# chunk of a broadcast cost more than the one before.
_CHUNK_COLUMNS = (
    "d.id, d.provider, d.token, d.p256dh, d.auth, d.platform, d.app_version,"
    " COALESCE(d.locale, u.locale), COALESCE(d.timezone, u.timezone), u.external_id,"
    " d.active, (SELECT x.device_id FROM deliveries x WHERE x.send_id = {send} AND x.device_id = d.id)"
)
_CHUNK_FROM = " FROM devices d LEFT JOIN users u ON u.id = d.user_id WHERE d.id IN ({ids})"
_CHUNK_SQLITE = (f"SELECT json_group_array(json_array({_CHUNK_COLUMNS.format(send='?')}))"
                 + _CHUNK_FROM.format(ids="SELECT value FROM json_each(?)"))
_CHUNK_POSTGRESQL = (f"SELECT {_CHUNK_COLUMNS.format(send='%s')}"
                     + _CHUNK_FROM.format(ids="SELECT unnest(%s::bigint[])") + " ORDER BY d.id")

def load_topic_target(db: Database, send_id: str, *, now: datetime | None = None) -> tuple[str, str] | None:
    """The FCM ``("topic" | "condition", value)`` a topic delivery job sends to, if still unsent.

    None when its outcome is recorded (a re-run after a crash), the send is
    gone, or it was cancelled (then recorded as cancelled, as :func:`load_chunk` does).
    """
    with db.connect(write=False) as connection:
        send = connection.execute(select(_s.status, _s.target).where(_s.id == send_id)).one_or_none()
        recorded = connection.execute(
            select(deliveries_table.c.status)
            .where(deliveries_table.c.send_id == send_id, deliveries_table.c.device_id == TOPIC_DEVICE_ID)
        ).first()
    if send is None or recorded is not None:
        return None
    if send.status == SendStatus.CANCELLED:
        cancelled = [Outcome(TOPIC_DEVICE_ID, DeliveryStatus.CANCELLED, REASON_CANCELLED, attempts=0)]
        with db.connect() as connection:
            record_outcomes_on(connection, send_id, ProviderName.FCM.value, cancelled, now=now)
        return None
    kind = "condition" if "condition" in send.target else "topic"
    return kind, str(send.target[kind])


__all__ = ["DeviceRow", "SendContent", "load_chunk", "load_send_content", "load_topic_target"]
