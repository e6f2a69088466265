"""Read models for the admin UI: device search, pruning, send breakdowns, recent activity.

The admin UI writes through the same functions as the API (registration,
sends, credentials live in their own modules); what is here are the
queries only an operator's screen asks: a device search with more filters
than ``GET /v1/devices`` (last seen, token prefix), deleting long-dead
devices, a send's outcomes grouped by reason and over time, and counters
of recent sends for the overview.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from pushgate.registry._paging import Page, check_limit, decode_cursor, make_page
from pushgate.registry.constants import Platform, ProviderName
from pushgate.registry.models import Delivery, Device, DeviceTag, Send, User, UserTag, utcnow
from pushgate.registry.validation import validate_choice


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """The admin device search; every field narrows (None: any)."""

    provider: str | None = None
    platform: str | None = None
    user: str | None = None
    tag: str | None = None  # on the device or its user, as targets match tags
    active: bool | None = None
    seen_before: datetime | None = None
    seen_after: datetime | None = None
    token_prefix: str | None = None


def search_devices(
    session: Session, app_id: int, query: DeviceQuery, *, cursor: str | None = None, limit: int = 50
) -> Page[Device]:
    """One page of the app's devices matching ``query``, in id order."""
    limit = check_limit(limit)
    statement = select(Device).where(Device.app_id == app_id, Device.id > decode_cursor(cursor))
    if query.provider is not None:
        statement = statement.where(
            Device.provider == validate_choice(query.provider, ProviderName, "provider").value)
    if query.platform is not None:
        statement = statement.where(
            Device.platform == validate_choice(query.platform, Platform, "platform").value)
    if query.user is not None:
        statement = statement.join(User, User.id == Device.user_id).where(User.external_id == query.user)
    if query.tag is not None:
        statement = statement.where(or_(
            exists().where(DeviceTag.device_id == Device.id, DeviceTag.tag == query.tag),
            exists().where(UserTag.user_id == Device.user_id, UserTag.tag == query.tag),
        ))
    if query.active is not None:
        statement = statement.where(Device.active == query.active)
    if query.seen_before is not None:
        statement = statement.where(Device.last_seen_at < query.seen_before)
    if query.seen_after is not None:
        statement = statement.where(Device.last_seen_at >= query.seen_after)
    if query.token_prefix:
        # A prefix compared as a range, not LIKE: no escaping of % and _, and an index can serve it.
        statement = statement.where(Device.token >= query.token_prefix,
                                    Device.token < query.token_prefix + "\U0010ffff")
    rows = list(session.scalars(statement.order_by(Device.id).limit(limit + 1)))
    return make_page(rows, limit, lambda device: device.id)


def prune_devices(session: Session, app_id: int, *, dead_days: int, now: datetime | None = None) -> int:
    """Delete the app's inactive devices dead for ``dead_days`` days or more; returns how many.

    "Dead since" is when the provider (or the app) unregistered the device;
    a device deactivated without that time counts from its last update.
    Delivery history is kept, as for any deleted device.
    """
    cutoff = (now or utcnow()) - timedelta(days=dead_days)
    result = session.execute(
        delete(Device).where(
            Device.app_id == app_id, Device.active.is_(False),
            or_(Device.unregistered_at <= cutoff,
                and_(Device.unregistered_at.is_(None), Device.updated_at <= cutoff)),
        ).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def get_delivery(session: Session, send_id: str, device_id: int) -> Delivery | None:
    """One device's outcome in a send (the caller checks the send is the admin's app's)."""
    return session.get(Delivery, (send_id, device_id))


@dataclass(frozen=True, slots=True)
class ReasonCount:
    status: str
    reason: str | None
    count: int


def outcomes_by_reason(session: Session, send_id: str) -> list[ReasonCount]:
    """A send's recorded outcomes grouped by status and the provider's reason, largest first."""
    rows = session.execute(
        select(Delivery.status, Delivery.reason, func.count())
        .where(Delivery.send_id == send_id).group_by(Delivery.status, Delivery.reason)
    )
    counts = [ReasonCount(status, reason, int(count)) for status, reason, count in rows]
    return sorted(counts, key=lambda c: (-c.count, c.status, c.reason or ""))


@dataclass(frozen=True, slots=True)
class TimeBucket:
    start: datetime
    counts: dict[str, int] = field(default_factory=dict)  # status → deliveries recorded in it

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def delivery_timeline(session: Session, send_id: str, *, buckets: int = 30) -> list[TimeBucket]:
    """A send's outcomes over time: ``buckets`` equal slices from its first to its last outcome."""
    first, last = session.execute(
        select(func.min(Delivery.updated_at), func.max(Delivery.updated_at))
        .where(Delivery.send_id == send_id)
    ).one()
    if first is None or last is None:
        return []
    first, last = _aware(first), _aware(last)
    width = max((last - first) / buckets, timedelta(seconds=1))
    tallies = [Counter[str]() for _ in range(buckets)]
    rows = session.execute(
        select(Delivery.updated_at, Delivery.status).where(Delivery.send_id == send_id)
        .execution_options(yield_per=5000)
    )
    for updated_at, status in rows:
        index = min(buckets - 1, int((_aware(updated_at) - first) / width))
        tallies[index][status] += 1
    return [TimeBucket(first + width * i, dict(tally)) for i, tally in enumerate(tallies)]


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True, slots=True)
class Activity:
    """Counters of the sends created since a moment."""

    sends: int = 0
    targeted: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    expired: int = 0
    cancelled: int = 0

    @property
    def recorded(self) -> int:
        return self.sent + self.failed + self.dead + self.expired + self.cancelled

    def rate(self, part: int) -> float:
        return part / self.recorded if self.recorded else 0.0


def recent_activity(session: Session, app_ids: Iterable[int] | None, since: datetime) -> Activity:
    """Sums over the sends created since ``since`` of the given apps (None: every app)."""
    statement = select(
        func.count(), func.coalesce(func.sum(Send.targeted), 0), func.coalesce(func.sum(Send.sent), 0),
        func.coalesce(func.sum(Send.failed), 0), func.coalesce(func.sum(Send.dead), 0),
        func.coalesce(func.sum(Send.expired), 0), func.coalesce(func.sum(Send.cancelled), 0),
    ).where(Send.created_at >= since)
    if app_ids is not None:
        statement = statement.where(Send.app_id.in_(list(app_ids)))
    row = session.execute(statement).one()
    return Activity(*(int(value) for value in row))


def device_counts(session: Session, app_id: int) -> dict[str, int]:
    """Active devices per provider."""
    rows = session.execute(
        select(Device.provider, func.count()).where(Device.app_id == app_id, Device.active.is_(True))
        .group_by(Device.provider)
    )
    return {provider: int(count) for provider, count in rows}


__all__ = [
    "Activity",
    "DeviceQuery",
    "ReasonCount",
    "TimeBucket",
    "delivery_timeline",
    "device_counts",
    "get_delivery",
    "outcomes_by_reason",
    "prune_devices",
    "recent_activity",
    "search_devices",
]
