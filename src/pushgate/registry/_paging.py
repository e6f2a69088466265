"""Keyset pagination: a page of items and an opaque cursor to the next one.

Cursors wrap the last row's integer id (``WHERE id > :last ORDER BY id``),
so a page costs the same at any depth and rows inserted meanwhile are
neither skipped nor repeated. They are opaque to clients (base64url of a
versioned string) so the encoding can change without breaking URLs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pushgate.registry._errors import ValidationError
from pushgate.registry.constants import MAX_PAGE_LIMIT

T = TypeVar("T")
_CURSOR_VERSION = "v1:"


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # None: this was the last page


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_VERSION}{last_id}".encode()).decode().rstrip("=")


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
    raise ValidationError("cursor", "not a cursor this server issued")


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ValidationError("limit", f"must be between 1 and {MAX_PAGE_LIMIT}")
    return limit


def make_page(rows: list[T], limit: int, key: Callable[[T], int]) -> Page[T]:
    """``rows`` was fetched with ``limit + 1``: the extra row proves a next page exists."""
    if len(rows) > limit:
        del rows[limit:]
        return Page(rows, encode_cursor(key(rows[-1])))
    return Page(rows, None)
