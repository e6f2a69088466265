"""Who a target reaches, counted without sending: devices, distinct users, and which named users.

The same conditions as fan-out (:func:`~pushgate.registry.fanout_queries.audience_filters`:
active devices, the target's filters and tag expression, opt-outs), so
``POST /v1/audience``, a send's ``scheduled`` count and its deliveries agree.

``reached_users`` answers Pushpad's ``uids`` field: of the users a send
names, those with at least one device the send reaches
(https://pushpad.xyz/docs/rest_api — "the user IDs that will be actually
reached by the notification").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from pushgate.registry.fanout_queries import (
    COUNT_SLICE,
    audience_filters,
    count_audience,
    list_condition,
    zone_of_device,
)
from pushgate.registry.models import devices_table, users_table
from pushgate.registry.targets import Target

_d = devices_table.c
_u = users_table.c


@dataclass(frozen=True, slots=True)
class AudienceCount:
    devices: int  # active devices the target reaches now
    users: int  # distinct users owning them (devices without a user count for none)


def measure_audience(session: Session, app_id: int, target: Target) -> AudienceCount:
    """Devices and distinct users a send of ``target`` would reach now."""
    devices = count_audience(session, app_id, target)
    if target.fcm:
        return AudienceCount(devices, 0)
    conditions = audience_filters(app_id, target)
    if target.audience == "all":
        users = session.execute(
            select(func.count(distinct(_d.user_id))).where(*conditions)
        ).scalar_one()
        return AudienceCount(devices, int(users))
    # Lists are walked in slices (one IN list each); a user may own devices in two slices of
    # tokens, so the ids are gathered: at most MAX_TARGET_LIST values, never the whole table.
    owners: set[int] = set()
    for start in range(0, len(target.values), COUNT_SLICE):
        piece = list(target.values[start:start + COUNT_SLICE])
        owners.update(session.scalars(
            select(_d.user_id).distinct().where(
                *conditions, list_condition(app_id, target.audience, piece), _d.user_id.is_not(None)
            )
        ))
    return AudienceCount(devices, len(owners))


def audience_zones(session: Session, app_id: int, target: Target) -> dict[str, int]:
    """Devices the target reaches now, counted by time zone (``zone_of_device``; "": none set)."""
    conditions = audience_filters(app_id, target)
    zone = zone_of_device()
    slices: list[list[Any]] = [[]] if target.audience == "all" else [
        list(target.values[start:start + COUNT_SLICE]) for start in range(0, len(target.values), COUNT_SLICE)]
    counts: dict[str, int] = {}
    for piece in slices:
        extra = [list_condition(app_id, target.audience, piece)] if piece else []
        for name, devices in session.execute(
            select(zone, func.count()).where(*conditions, *extra).group_by(zone)
        ):
            counts[str(name)] = counts.get(str(name), 0) + int(devices)
    return counts


def reached_users(session: Session, app_id: int, target: Target) -> list[str]:
    """Of a ``users`` target's ids, those with a device the send reaches, in the request's order."""
    if target.audience != "users":
        return []
    conditions = audience_filters(app_id, target)
    reached: set[str] = set()
    for start in range(0, len(target.values), COUNT_SLICE):
        piece = list(target.values[start:start + COUNT_SLICE])
        reached.update(session.scalars(
            select(_u.external_id).distinct().join_from(devices_table, users_table, _u.id == _d.user_id)
            .where(*conditions, _u.app_id == app_id, _u.external_id.in_(piece))
        ))
    return [uid for uid in target.values if uid in reached]


__all__ = ["AudienceCount", "audience_zones", "measure_audience", "reached_users"]
