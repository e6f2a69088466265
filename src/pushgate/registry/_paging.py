"""Keyset pagination: a page of items and an opaque cursor to the next one.

Cursors wrap the last row's integer id (``WHERE id > :last ORDER BY id``),
so a page costs the same at any depth and rows inserted meanwhile are
neither skipped nor repeated. A list ordered by time wraps the last row's
``(time, id)`` instead: the time alone is not unique (rows stored in the same
clock tick share it), and a cursor on it would skip the rest of a tie at a
page boundary. Cursors are opaque to clients (base64url of a versioned
string) so the encoding can change without breaking URLs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pushgate.registry._errors import ValidationError
from pushgate.registry.constants import MAX_PAGE_LIMIT

T = TypeVar("T")
_CURSOR_VERSION = "v1:"
_TIME_CURSOR_VERSION = "t1:"
_INVALID = "not a cursor this server issued"


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # None: this was the last page


def encode_cursor(last_id: int) -> str:
    return _encode(f"{_CURSOR_VERSION}{last_id}")


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError("cursor", _INVALID) from None


def decode_cursor(cursor: str | None) -> int:
    """The id to continue after (0 for the first page)."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith(_CURSOR_VERSION):
            return int(raw[len(_CURSOR_VERSION):])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValidationError("cursor", _INVALID)


def encode_time_cursor(at: datetime, last_id: str) -> str:
    """A cursor after the row (``at``, ``last_id``) of a list ordered by (time, id)."""
    return _encode(f"{_TIME_CURSOR_VERSION}{at.isoformat()} {last_id}")


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str | None] | None:
    """(time, id) to continue after; None for the first page.

    A bare ISO timestamp (the send list's cursor before it carried an id) is
    still understood, as (time, None): rows strictly before that time.
    """
    if not cursor:
        return None
    try:
        return datetime.fromisoformat(cursor), None
    except ValueError:
        pass
    raw = _decode(cursor)
    if raw.startswith(_TIME_CURSOR_VERSION):
        at, _, last_id = raw[len(_TIME_CURSOR_VERSION):].partition(" ")
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            raise ValidationError("cursor", _INVALID) from None
        if last_id and parsed.tzinfo is not None:
            return parsed, last_id
    raise ValidationError("cursor", _INVALID)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ValidationError("limit", f"must be between 1 and {MAX_PAGE_LIMIT}")
    return limit


def make_page(rows: list[T], limit: int, key: Callable[[T], int]) -> Page[T]:
    """``rows`` was fetched with ``limit + 1``: the extra row proves a next page exists."""
    return make_page_with(rows, limit, lambda row: encode_cursor(key(row)))


def make_page_with(rows: list[T], limit: int, cursor: Callable[[T], str]) -> Page[T]:
    """:func:`make_page` with the cursor made by ``cursor`` from the page's last row."""
    if len(rows) > limit:
        del rows[limit:]
        return Page(rows, cursor(rows[-1]))
    return Page(rows, None)
