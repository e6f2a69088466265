"""A send's delivery log as CSV or JSON lines, produced page by page for a streamed answer.

Exporting a broadcast's million rows must not hold them in memory nor one
read transaction open for the whole download: rows are read in keyset
pages of :data:`EXPORT_PAGE` (``list_deliveries``, by device id), each page
in a short transaction of its own, and formatted as they are yielded. A
device deleted meanwhile still has its row (deliveries keep history) with
an empty token. A send to an FCM topic or condition has one row whose
``target`` is the topic or condition.

Columns (both formats): ``device_id``, ``token`` (shortened by the caller's
``shorten``: enough to recognise, not to use), ``target``, ``provider``,
``status``, ``reason``, ``message_id``, ``attempts``, ``updated_at``
(ISO 8601, UTC).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from pushgate.registry import Database, Target, device_tokens, get_send, list_deliveries
from pushgate.registry.constants import TOPIC_DEVICE_ID

EXPORT_PAGE = 1000
COLUMNS = ("device_id", "token", "target", "provider", "status", "reason", "message_id", "attempts",
           "updated_at")


def delivery_rows(
    db: Database, send_id: str, shorten: Callable[[str], str], *, status: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every delivery row of ``send_id`` (of one ``status``) in device id order, one page per transaction."""
    cursor: str | None = None
    while True:
        with db.session(write=False) as session:
            page = list_deliveries(session, send_id, status=status, cursor=cursor, limit=EXPORT_PAGE)
            tokens = device_tokens(session, [row.device_id for row in page.items])
            target = None
            if page.items and page.items[0].device_id == TOPIC_DEVICE_ID:
                send = get_send(session, send_id)
                target = Target.parse(send.target).values[0] if send is not None else None
            rows = [
                {
                    "device_id": None if row.device_id == TOPIC_DEVICE_ID else row.device_id,
                    "token": shorten(tokens[row.device_id]) if row.device_id in tokens else None,
                    "target": target if row.device_id == TOPIC_DEVICE_ID else None,
                    "provider": row.provider, "status": row.status, "reason": row.reason,
                    "message_id": row.message_id, "attempts": row.attempts,
                    "updated_at": row.updated_at.isoformat(),
                }
                for row in page.items
            ]
        yield from rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def as_csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """A header line, then one CSV line per row (RFC 4180 quoting, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def as_json_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per line (jsonlines.org), the columns as keys."""
    chunk: list[str] = []
    for row in rows:
        chunk.append(json.dumps(row, ensure_ascii=False) + "\n")
        if len(chunk) >= EXPORT_PAGE:
            yield "".join(chunk)
            chunk.clear()
    yield "".join(chunk)


__all__ = ["COLUMNS", "EXPORT_PAGE", "as_csv", "as_json_lines", "delivery_rows"]
