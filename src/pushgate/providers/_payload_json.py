"""JSON helpers every payload builder shares."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pushgate.errors import InvalidNotification


def dumps(obj: Any) -> bytes:
    """Compact JSON, UTF-8 as is (``ensure_ascii=False`` keeps non-ASCII text at
    its UTF-8 size instead of a 6-byte ``\\uXXXX`` escape per character, which
    matters against 4 KB provider limits)."""
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate in some text
        raise InvalidNotification("text is not valid Unicode") from exc
    except (TypeError, ValueError) as exc:  # not JSON-able, or NaN
        raise InvalidNotification(f"not JSON-serialisable: {exc}") from exc


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``: mappings merge recursively,
    other values replace, and ``None`` deletes the key. Neither input is
    modified (overrides come from caller-owned, frozen notifications)."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            current = merged.get(key)
            merged[key] = deep_merge(current if isinstance(current, Mapping) else {}, value)
        elif isinstance(value, list):
            merged[key] = list(value)
        else:
            merged[key] = value
    return merged
