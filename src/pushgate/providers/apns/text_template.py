"""An APNs body with its alert title and body left open, for an event send's per-device texts.

An event send gives each device its own rendered title and body and
shares everything else (docs/events.md §4). Building the whole body per
device (:func:`~pushgate.providers.apns.payload.build_payload`: the
``aps`` dictionary, the custom keys, one ``json.dumps``) cost about a fifth
of a delivery's CPU. Instead the body is built once with two marker
strings for the texts, cut at the markers, and each device's body is the
pieces joined around its JSON-escaped texts. The headers do not depend on
the texts as long as both are non-empty (the priority does, through
"shows an alert", docs/protocols/apns.md §3.1), so they are kept as well.

The result must be byte for byte what :func:`build_payload` would give.
The escaping is the one ``json.dumps(..., ensure_ascii=False)`` applies to
every string (``json.encoder.encode_basestring``). Whatever the splice
cannot promise to reproduce goes the full way: an ``apns.payload``
override (it may replace or delete ``alert`` keys), an empty or missing
title or body (the alert and the priority change shape), a body over the
size limit (trimmed or refused there), and text that does not encode.
"""

from __future__ import annotations

import json.encoder
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pushgate.errors import PermanentError
from pushgate.notification import Notification
from pushgate.providers.apns import payload

# json.dumps(s, ensure_ascii=False) of a str, without the dumps() call around it.
_escape: Final[Callable[[str], str]] = json.encoder.encode_basestring


@dataclass(frozen=True, slots=True)
class TextTemplate:
    """A body cut around the title and the body text: ``head`` title ``middle`` body ``tail``."""

    head: bytes
    middle: bytes
    tail: bytes
    parts: payload.APNsRequestParts  # the headers of every body this template makes
    target: int  # the size a body may have without being trimmed or refused

    @classmethod
    def build(cls, notification: Notification, *, bundle_id: str, now: datetime,
              max_size: int | None) -> TextTemplate | None:
        """The template of ``notification``'s texts; None when every text must go the full way."""
        block = notification.apns or {}
        if not isinstance(block, dict) or block.get("payload"):
            return None
        marker = "pushgate-" + secrets.token_hex(12)  # found once in the body, or no template
        title_mark, body_mark = marker + "-title", marker + "-body"
        try:
            parts = payload.build_payload(
                notification.model_copy(update={"title": title_mark, "body": body_mark}),
                bundle_id=bundle_id, now=now, max_size=None,
            )
        except PermanentError:
            return None
        body = parts.body
        quoted_title, quoted_body = f'"{title_mark}"'.encode(), f'"{body_mark}"'.encode()
        if body.count(quoted_title) != 1 or body.count(quoted_body) != 1:
            return None
        head, _, rest = body.partition(quoted_title)
        middle, found, tail = rest.partition(quoted_body)
        if not found:  # the body text comes before the title: not the layout build_payload makes
            return None
        limit = payload.payload_limit(parts.push_type)
        target = limit if max_size is None else min(limit, max_size)
        return cls(head, middle, tail, parts, target)

    def body(self, title: str | None, body: str | None) -> bytes | None:
        """The body for these texts; None when it must be built the full way."""
        if not title or not body:
            return None
        try:
            encoded = b"".join((self.head, _escape(title).encode(), self.middle, _escape(body).encode(),
                                self.tail))
        except UnicodeEncodeError:  # a lone surrogate: build_payload says why
            return None
        return encoded if len(encoded) <= self.target else None


__all__ = ["TextTemplate"]
