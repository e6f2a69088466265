"""What browsers report back about a send: notifications displayed and clicked, and the stats.

The service worker (``pushgate-sw.js``) reports ``displayed`` after it
showed a notification and ``clicked`` when the user clicked it (or one of
its actions), naming the send (the ``pushgate.send`` key of the payload)
and its own subscription endpoint. Each (send, event, subscription) counts
once: ``push_events``' primary key makes a report idempotent, so a worker
that retries a batch never counts twice. An event counts only if the
endpoint belongs to a device of the send's app — the endpoint is the
capability a browser holds, so a stranger cannot inflate another app's
numbers with made-up endpoints.

Stats (:func:`stats`) are per send and per custom metric (the send's
``custom_metrics``, up to a few names given at send time), in hour or day
buckets of the send's creation time: targeted, sent, failed, dead from the
send's counters, displayed and clicked from the events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pushgate.registry._errors import ValidationError
from pushgate.registry._types import utcnow
from pushgate.registry.db import insert_ignoring
from pushgate.registry.device_specs import token_hash
from pushgate.registry.models import Device, Send
from pushgate.registry.webhook_capture import capture_engagement
from pushgate.registry.websdk_tables import PushEvent

__all__ = [
    "COUNTERS",
    "MAX_EVENTS_PER_REPORT",
    "Bucket",
    "EventKind",
    "PushEvent",
    "ReportedEvent",
    "StatsRow",
    "custom_metrics_of",
    "record_events",
    "send_stats",
    "stats",
]

MAX_EVENTS_PER_REPORT = 100
MAX_BUCKETS = 24 * 93  # an hourly range of three months, a daily one of six years
COUNTERS = ("sends", "targeted", "sent", "failed", "dead", "displayed", "clicked")


class EventKind(StrEnum):
    DISPLAYED = "displayed"
    CLICKED = "clicked"


class Bucket(StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self is Bucket.HOUR else timedelta(days=1)

    def floor(self, moment: datetime) -> datetime:
        start = moment.replace(minute=0, second=0, microsecond=0)
        return start if self is Bucket.HOUR else start.replace(hour=0)


@dataclass(frozen=True, slots=True)
class ReportedEvent:
    send_id: str
    kind: EventKind
    endpoint: str
    action: str | None = None


def record_events(
    session: Session, events: Sequence[ReportedEvent], *, app_allowed: Callable[[int], bool],
    now: datetime | None = None,
) -> tuple[int, list[int]]:
    """Store the events that name a known send and one of its app's devices.

    ``app_allowed(app_id)`` decides whether a send's app takes reports from
    this caller (the route checks the page's origin against the app's allowed
    origins). Returns (events newly counted, the apps they belong to);
    unknown sends and endpoints are dropped silently
    (a report is best effort, and its answer must not tell a stranger which
    sends exist).
    """
    if len(events) > MAX_EVENTS_PER_REPORT:
        raise ValidationError("events", f"at most {MAX_EVENTS_PER_REPORT} events per report")
    if not events:
        return 0, []
    now = now or utcnow()
    send_apps: dict[str, int] = {row[0]: row[1] for row in session.execute(
        select(Send.id, Send.app_id).where(Send.id.in_({e.send_id for e in events}))
    )}
    allowed: dict[int, bool] = {}
    hashes = {e.endpoint: token_hash(e.endpoint) for e in events}
    known: dict[tuple[int, bytes], tuple[int, str]] = {  # (app, token hash) -> (device id, provider)
        (row[0], row[1]): (row[2], row[3]) for row in session.execute(
            select(Device.app_id, Device.token_hash, Device.id, Device.provider)
            .where(Device.token_hash.in_(set(hashes.values())))
        )
    }
    rows: list[dict[str, Any]] = []
    devices: list[tuple[int, str]] = []
    for event in events:
        app_id = send_apps.get(event.send_id)
        if app_id is None:
            continue
        if app_id not in allowed:
            allowed[app_id] = app_allowed(app_id)
        if not allowed[app_id]:
            continue
        if (app_id, hashes[event.endpoint]) not in known:
            continue
        rows.append({"send_id": event.send_id, "kind": event.kind.value, "token_hash": hashes[event.endpoint],
                     "app_id": app_id, "action": event.action, "created_at": now})
        devices.append(known[app_id, hashes[event.endpoint]])
    if not rows:
        return 0, []
    connection = session.connection()
    inserted = 0
    for row, (device_id, provider) in zip(rows, devices, strict=True):
        # one statement per row: RETURNING tells which were new on both databases
        result = connection.execute(
            insert_ignoring(connection, PushEvent.__table__, ["send_id", "kind", "token_hash"])  # type: ignore[arg-type]
            .values(row).returning(PushEvent.__table__.c.send_id)
        )
        if result.first() is not None:
            inserted += 1
            capture_engagement(connection, row["app_id"], row["send_id"], device_id, provider, row["kind"],
                               row["action"], now)
    return inserted, sorted({row["app_id"] for row in rows})


def custom_metrics_of(notification: dict[str, Any]) -> list[str]:
    """The send's custom metrics: ``custom_metrics`` of the notification or of its ``webpush`` block."""
    found = notification.get("custom_metrics")
    if found is None and isinstance(notification.get("webpush"), dict):
        found = notification["webpush"].get("custom_metrics")
    if not isinstance(found, list | tuple):
        return []
    return [str(name) for name in found if isinstance(name, str) and name][:10]


@dataclass(slots=True)
class StatsRow:
    """Counters of the sends created in one bucket (``metric`` None: every send)."""

    start: datetime
    metric: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))

    def add(self, counts: dict[str, int]) -> None:
        for name, value in counts.items():
            self.counts[name] += value


def _event_counts(session: Session, send_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(EventKind, 0))
    for start in range(0, len(send_ids), 500):
        chunk = send_ids[start:start + 500]
        query = (select(PushEvent.send_id, PushEvent.kind, func.count())
                 .where(PushEvent.send_id.in_(chunk)).group_by(PushEvent.send_id, PushEvent.kind))
        for send_id, kind, count in session.execute(query):
            found[send_id][kind] = int(count)
    return found


def _send_counts(send: Any, events: dict[str, int]) -> dict[str, int]:
    return {"sends": 1, "targeted": send.targeted, "sent": send.sent, "failed": send.failed,
            "dead": send.dead, "displayed": events.get(EventKind.DISPLAYED, 0),
            "clicked": events.get(EventKind.CLICKED, 0)}


def send_stats(session: Session, app_id: int, send_id: str) -> dict[str, Any] | None:
    """One send's counters and custom metrics (None: no such send of this app)."""
    send = session.get(Send, send_id)
    if send is None or send.app_id != app_id:
        return None
    events = _event_counts(session, [send_id]).get(send_id, {})
    return {"id": send.id, "created_at": send.created_at, "metrics": custom_metrics_of(send.notification),
            **_send_counts(send, events)}


def stats(
    session: Session, app_id: int, *, since: datetime, until: datetime, bucket: Bucket,
    metric: str | None = None,
) -> tuple[list[StatsRow], list[StatsRow]]:
    """(rows for every send, rows per custom metric) of the sends created in [since, until).

    Buckets without sends are left out. ``metric`` keeps only that metric's rows.
    """
    if until <= since:
        raise ValidationError("until", "must be after since")
    if (until - since) / bucket.step > MAX_BUCKETS:
        raise ValidationError("since", f"at most {MAX_BUCKETS} {bucket.value} buckets per request")
    sends = session.execute(
        select(Send.id, Send.created_at, Send.targeted, Send.sent, Send.failed, Send.dead, Send.notification)
        .where(Send.app_id == app_id, Send.created_at >= since, Send.created_at < until)
        .order_by(Send.created_at)
    ).all()
    events = _event_counts(session, [s.id for s in sends])
    totals: dict[datetime, StatsRow] = {}
    per_metric: dict[tuple[datetime, str], StatsRow] = {}
    for send in sends:
        start = bucket.floor(send.created_at)
        counts = _send_counts(send, events.get(send.id, {}))
        totals.setdefault(start, StatsRow(start, None)).add(counts)
        for name in custom_metrics_of(send.notification):
            if metric is None or name == metric:
                per_metric.setdefault((start, name), StatsRow(start, name)).add(counts)
    return list(totals.values()), [per_metric[key] for key in sorted(per_metric)]
