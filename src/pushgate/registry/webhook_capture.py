"""Delivery events for webhooks, appended in the transaction that records the outcome.

Why here and not in a separate pass over ``deliveries``: the event is then
exactly as durable as the outcome (both commit or neither), and nothing has
to remember how far it read — a cursor over ``deliveries.updated_at`` or
ids would skip rows that a concurrent writer commits late with an earlier
value. Each statement is one ``INSERT … SELECT`` joining the outcomes just
written with the enabled webhooks of the send's app that take that event
type, so an app without webhooks pays one statement that inserts nothing
per (send, status) group of a batch, and no statement runs for a group
whose outcomes were all recorded before (a re-run). A webhook that is
disabled stops accumulating events at once: the join no longer finds it.

The events wait in ``webhook_events`` until the webhook's drain job
(:mod:`pushgate.workers.webhooks`) has delivered them; docs/webhooks.md §2
lists the types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from pushgate.registry._types import UTCDateTime, sqlite_timestamp

# The event types a webhook can take (docs/webhooks.md §2), and the delivery status of each.
STATUS_EVENTS: dict[str, str] = {
    "sent": "delivery.sent",
    "failed": "delivery.failed",
    "dead": "delivery.dead",
    "expired": "delivery.expired",
}
ENGAGEMENT_EVENTS: dict[str, str] = {"displayed": "delivery.displayed", "clicked": "delivery.clicked"}
EVENT_TYPES: tuple[str, ...] = (*STATUS_EVENTS.values(), *ENGAGEMENT_EVENTS.values())

_COLUMNS = "webhook_id, type, send_id, device_id, provider, reason, provider_timestamp, action, at"
_WEBHOOKS_OF_SEND = (
    "w.app_id = (SELECT app_id FROM sends WHERE id = {p}) AND w.enabled AND w.events LIKE {p}"
)
# SQLite: the rows are the JSON array the deliveries insert used ([device, reason, message id,
# attempts]), or one with the provider's timestamp fifth ([device, reason, null, null, ts]).
CAPTURE_SQLITE = (
    f"INSERT INTO webhook_events ({_COLUMNS}) SELECT w.id, ?, ?, json_extract(j.value, '$[0]'), ?,"
    " json_extract(j.value, '$[1]'), json_extract(j.value, '$[4]'), NULL, ?"
    # CROSS JOIN: SQLite keeps the webhooks as the outer loop, so a send without matching
    # webhooks never unpacks the JSON (https://www.sqlite.org/optoverview.html#crossjoin).
    f" FROM webhooks w CROSS JOIN json_each(?) j WHERE {_WEBHOOKS_OF_SEND.format(p='?')}"
)
CAPTURE_POSTGRES = (
    f"INSERT INTO webhook_events ({_COLUMNS}) SELECT w.id, %s, %s, d, %s, r, NULL::timestamptz, NULL, %s"
    " FROM webhooks w, unnest(%s::bigint[], %s::text[]) AS t(d, r)"
    f" WHERE {_WEBHOOKS_OF_SEND.format(p='%s')}"
)
CAPTURE_POSTGRES_STAMPED = (
    f"INSERT INTO webhook_events ({_COLUMNS}) SELECT w.id, %s, %s, d, %s, r, ts, NULL, %s"
    " FROM webhooks w, unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS t(d, r, ts)"
    f" WHERE {_WEBHOOKS_OF_SEND.format(p='%s')}"
)
CAPTURE_ENGAGEMENT = (
    f"INSERT INTO webhook_events ({_COLUMNS}) SELECT w.id, :type, :send_id, :device_id, :provider,"
    " NULL, NULL, :action, :at FROM webhooks w"
    " WHERE w.app_id = :app_id AND w.enabled AND w.events LIKE :pattern"
)


# Whether a send's app has an enabled webhook: what the outcome writer asks once per send and
# WEBHOOK_LOOKUP_SECONDS instead of running the capture statements of every batch.
HAS_WEBHOOKS_SQLITE = (
    "SELECT 1 FROM webhooks w WHERE w.app_id = (SELECT app_id FROM sends WHERE id = ?) AND w.enabled LIMIT 1"
)
HAS_WEBHOOKS_POSTGRES = HAS_WEBHOOKS_SQLITE.replace("?", "%s")
WEBHOOK_LOOKUP_SECONDS = 1.0


def type_pattern(event_type: str) -> str:
    """The LIKE pattern matching a webhook's ``events`` column that lists ``event_type``."""
    return f"%,{event_type},%"


def capture_sqlite(cursor: Any, send_id: str, provider: str, status: str, rows_json: str, stamp: Any) -> None:
    """After ``INSERT_DELIVERIES_JSON`` on the driver cursor: the same rows as events."""
    event_type = STATUS_EVENTS.get(status)
    if event_type is not None:
        cursor.execute(CAPTURE_SQLITE, (event_type, send_id, provider, stamp, rows_json, send_id,
                                        type_pattern(event_type)))


def capture_postgres(
    cursor: Any, send_id: str, provider: str, status: str, device_ids: list[int], reasons: list[Any],
    stamp: Any,
) -> None:
    """After ``INSERT_DELIVERIES_UNNEST`` on the driver cursor: the same rows as events."""
    event_type = STATUS_EVENTS.get(status)
    if event_type is not None:
        cursor.execute(CAPTURE_POSTGRES, (event_type, send_id, provider, stamp, device_ids, reasons,
                                          send_id, type_pattern(event_type)))


def capture_on(
    connection: Connection, send_id: str, provider: str, status: str, rows: Sequence[tuple[int, str | None]],
    now: datetime, provider_timestamps: Mapping[int, datetime] | None = None,
) -> None:
    """The same on a Core connection (the session path, which also knows providers' timestamps)."""
    event_type = STATUS_EVENTS.get(status)
    if event_type is None or not rows:
        return
    stamps = provider_timestamps or {}
    pattern = type_pattern(event_type)
    if connection.dialect.name == "postgresql":
        ids = [device for device, _ in rows]
        reasons = [reason for _, reason in rows]
        if stamps:
            connection.exec_driver_sql(CAPTURE_POSTGRES_STAMPED, (
                event_type, send_id, provider, now, ids, reasons, [stamps.get(d) for d in ids],
                send_id, pattern))
        else:
            connection.exec_driver_sql(CAPTURE_POSTGRES, (
                event_type, send_id, provider, now, ids, reasons, send_id, pattern))
        return
    data = json.dumps([(device, reason, None, None, sqlite_timestamp(stamps.get(device)))
                       for device, reason in rows])
    connection.exec_driver_sql(CAPTURE_SQLITE, (event_type, send_id, provider, sqlite_timestamp(now), data,
                                                send_id, pattern))


def capture_engagement(
    connection: Connection, app_id: int, send_id: str, device_id: int, provider: str, kind: str,
    action: str | None, now: datetime,
) -> None:
    """A displayed or clicked report, newly recorded, as an event for the app's webhooks."""
    event_type = ENGAGEMENT_EVENTS.get(kind)
    if event_type is not None:
        connection.execute(text(CAPTURE_ENGAGEMENT).bindparams(
            bindparam("at", type_=UTCDateTime())), {
            "type": event_type, "send_id": send_id, "device_id": device_id, "provider": provider,
            "action": action, "at": now, "app_id": app_id, "pattern": type_pattern(event_type)})


__all__ = [
    "CAPTURE_ENGAGEMENT",
    "ENGAGEMENT_EVENTS",
    "EVENT_TYPES",
    "HAS_WEBHOOKS_POSTGRES",
    "HAS_WEBHOOKS_SQLITE",
    "STATUS_EVENTS",
    "WEBHOOK_LOOKUP_SECONDS",
    "capture_engagement",
    "capture_on",
    "capture_postgres",
    "capture_sqlite",
    "type_pattern",
]
