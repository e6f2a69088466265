"""Sends at a local time of day: ``"local_time": "09:00"`` for every user in their own time zone.

On top of ``send_at`` (:mod:`pushgate.service.submit`): the audience is
counted by time zone now (a device's zone is its user's, else its own, else
the app's ``timezone`` setting; :func:`pushgate.registry.audience.audience_zones`),
the next 09:00 is computed in each zone, and zones whose next 09:00 is the
same instant form one group. Each group becomes one ordinary scheduled send
— one fan-out job at that instant — whose target is the request's target
narrowed to the group's zones (``target.timezones``). So Europe/Paris and
Europe/Rome share a send, Asia/Tokyo gets its own, and each is durable,
cancellable and counted like any send.

Zones are resolved when the request is accepted: a user who changes zone
afterwards is sent to by the group of their zone at that time, or not at
all when no group has it (docs/targeting.md §5).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pushgate.notification import Notification
from pushgate.queue import Queue
from pushgate.registry import Database, Target, ValidationError
from pushgate.registry.app_defaults import app_timezone
from pushgate.registry.audience import audience_zones
from pushgate.registry.models import utcnow
from pushgate.service.settings import Settings
from pushgate.service.submit import Submission, submit_send

_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_local_time(value: str, field: str = "local_time") -> time:
    found = _LOCAL_TIME.match(value) if isinstance(value, str) else None
    if found is None:
        raise ValidationError(field, "a 24-hour time of day, HH:MM")
    return time(int(found.group(1)), int(found.group(2)))


def next_local(at: time, zone: str, now: datetime) -> datetime:
    """The first ``at`` in ``zone`` strictly after ``now`` (an aware UTC datetime)."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):  # stored where the system had no zone database
        tz = ZoneInfo("UTC")
    day = now.astimezone(tz).date()
    for offset in range(3):  # today, tomorrow, or the day after when a DST gap eats the hour
        candidate = datetime.combine(day + timedelta(days=offset), at, tzinfo=tz)
        if candidate > now:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("unreachable: a local time recurs within two days")


def group_zones(
    zones: Mapping[str, int], at: time, app_zone: str, now: datetime
) -> dict[datetime, list[str]]:
    """Zone names grouped by the UTC instant of their next ``at`` ("" goes with ``app_zone``)."""
    groups: dict[datetime, list[str]] = {}
    for zone in sorted(zones):
        instant = next_local(at, zone or app_zone, now)
        groups.setdefault(instant, []).append(zone)
    return dict(sorted(groups.items()))


def submit_local_time_send(
    db: Database,
    queue: Queue,
    settings: Settings,
    app_id: int,
    notification: Notification,
    target: Mapping[str, Any],
    local_time: str,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """One scheduled send per group of zones; the answer and the queues woken."""
    now = now or utcnow()
    at = parse_local_time(local_time)
    parsed = Target.parse(target)
    if parsed.fcm:
        raise ValidationError("local_time", "an FCM topic or condition has no users' time zones")
    if parsed.timezones is not None:
        raise ValidationError("target.timezones", "set by local_time; leave it out")
    with db.session(write=False) as session:
        zones = audience_zones(session, app_id, parsed)
        app_zone = app_timezone(session, app_id)
    sends: list[dict[str, Any]] = []
    queues: set[str] = set()
    for instant, names in group_zones(zones, at, app_zone, now).items():
        key = None
        if idempotency_key is not None:  # one key per group, stable for the same groups
            digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
            key = f"{idempotency_key}:{digest}"[:255]
        submission: Submission = submit_send(
            db, queue, settings, app_id, notification, {**parsed.to_json(), "timezones": names},
            send_at=instant, idempotency_key=key, now=now)
        queues.update(submission.queues)
        sends.append({"id": submission.response["id"], "send_at": submission.response["send_at"],
                      "timezones": [name or app_zone for name in names],
                      "devices": sum(zones[name] for name in names)})
    answer = {"local_time": local_time, "status": "queued", "targeted": sum(zones.values()), "sends": sends}
    return answer, tuple(sorted(queues))


__all__ = ["group_zones", "next_local", "parse_local_time", "submit_local_time_send"]
